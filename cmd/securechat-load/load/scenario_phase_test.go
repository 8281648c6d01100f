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

// TestHistoryPaceSpreadsTheRequests: the history users' first requests are
// one --history-rate interval apart and all fall within one user's gap, so
// the server sees an even stream of requests, not every user's at once.
func TestHistoryPaceSpreadsTheRequests(t *testing.T) {
	t.Parallel()
	cfg := &Config{Users: 100, Senders: 5, HistoryRate: 100}
	first, gap := historyPace(cfg, cfg.Senders)
	if first != 0 || gap != 950*time.Millisecond {
		t.Fatalf("first history user: phase %v, gap %v; want 0 and 950ms (95 users at 100/s)", first, gap)
	}
	prev := first
	for idx := cfg.Senders + 1; idx < cfg.Users; idx++ {
		phase, _ := historyPace(cfg, idx)
		if phase-prev != 10*time.Millisecond || phase >= gap {
			t.Fatalf("user %d: phase %v after %v, gap %v; want 10ms steps within the gap", idx, phase, prev, gap)
		}
		prev = phase
	}
	if phase, gap := historyPace(&Config{Users: 10, Senders: 1}, 5); phase != 0 || gap != 0 {
		t.Errorf("--history-rate 0 (back to back): phase %v, gap %v; want 0, 0", phase, gap)
	}
}
