package push

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterForgetsIdleEndpoints checks the bucket map does not grow
// with every endpoint ever pushed to: once it is large, buckets that have
// refilled are dropped, and a dropped bucket starts full again.
func TestLimiterForgetsIdleEndpoints(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := newLimiter(2, time.Second, func() time.Time { return now })
	for i := range sweepAt {
		l.allow(fmt.Sprint("https://push.example.com/", i))
	}
	if !l.allow("https://push.example.com/0") || l.allow("https://push.example.com/0") {
		t.Fatal("endpoint 0 should have had exactly one push left")
	}
	now = now.Add(2 * time.Second) // every bucket refills
	if !l.allow("https://push.example.com/new") {
		t.Fatal("a new endpoint was limited")
	}
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets after the sweep, want only the new endpoint's", n)
	}
	if !l.allow("https://push.example.com/0") || !l.allow("https://push.example.com/0") || l.allow("https://push.example.com/0") {
		t.Error("a forgotten endpoint should start again with a full burst of 2")
	}
}
