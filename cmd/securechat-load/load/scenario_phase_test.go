package load

import (
	"testing"
	"time"
)

// TestSenderPhaseSpreadsTheStream checks that the senders' phases place
// their first messages one total-rate interval apart, so together they
// form an evenly spaced stream rather than simultaneous bursts.
func TestSenderPhaseSpreadsTheStream(t *testing.T) {
	t.Parallel()
	const rate = 500.0
	for idx := 1; idx < 20; idx++ {
		gap := streamPhase(idx, rate) - streamPhase(idx-1, rate)
		if gap != 2*time.Millisecond {
			t.Fatalf("sender %d starts %v after sender %d, want 2ms", idx, gap, idx-1)
		}
	}
	if streamPhase(0, rate) != 0 {
		t.Fatal("the first sender should start at once")
	}
}
