//go:build !race

// The race detector's frames are larger, so these goroutine stack sizes
// hold only without it; `make test` runs this file in a run of its own.

package ircd

import (
	"fmt"
	"runtime"
	"testing"
)

// An idle TLS client costs two goroutine stacks. The reader parked in
// crypto/tls's record reader kept 8 KiB; parked in the socket wait it is
// shrunk to 4 KiB, like the writer, so the pair takes 8 KiB, not 12.
func TestIdleTLSClientStacks(t *testing.T) {
	ts := newTestServer(t)
	before := settledStackBytes()
	const n = 200
	for i := range n {
		ts.register(fmt.Sprintf("idle%d", i))
	}
	perConn := float64(settledStackBytes()-before) / n
	t.Logf("goroutine stacks per idle TLS client: %.0f bytes", perConn)
	if perConn > 10<<10 {
		t.Errorf("goroutine stacks per idle TLS client = %.0f bytes, want at most 10 KiB", perConn)
	}
}

// settledStackBytes returns the bytes of goroutine stacks in use once the
// collector has shrunk them: each cycle halves a stack that uses less than
// a quarter of itself, so a few cycles bring each to its floor.
func settledStackBytes() uint64 {
	var ms runtime.MemStats
	for range 6 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.StackInuse
}
