package load

import (
	"sync/atomic"
	"time"
)

// counter is an atomic counter padded to its own cache line, so senders'
// counters updated from many goroutines do not share lines.
type counter struct {
	atomic.Int64
	_ [56]byte
}

// receiver is the accounting side of one simulated user. It outlives
// connections: a churning user reconnects with the same receiver. The
// tracker belongs to whichever goroutine reads the user's connection; the
// atomics let the progress line and the drain check look on.
type receiver struct {
	tr       *Tracker
	senders  []int         // senders sharing this user's channel, self excluded
	seq      []counter     // the run's next sequence number per sender
	acked    []counter     // the run's deliveries per sender, for flow control
	flow     bool          // update acked (maxrate only: it is a contended add)
	phase    *atomic.Int32 // the run's current phase: where latency goes
	total    atomic.Int64  // fresh deliveries over the whole run
	winStart atomic.Int64  // total when the current window opened
	baseSum  atomic.Int64  // sum of the current window's bases
	joined   atomic.Bool
}

// observe accounts one live message; it runs on the read goroutine.
func (r *receiver) observe(sender int, seq, nanos int64) {
	lat := time.Duration(time.Now().UnixNano() - nanos)
	if !r.tr.Observe(sender, seq, lat, phase(r.phase.Load())) {
		return
	}
	r.total.Add(1)
	if r.flow {
		r.acked[sender].Add(1)
	}
}

// open starts a joined window; it runs on the goroutine reading the
// connection, when the server echoes the JOIN.
func (r *receiver) open() {
	sum := r.tr.Open(func(s int) int64 { return r.seq[s].Load() })
	r.baseSum.Store(sum)
	r.winStart.Store(r.total.Load())
	r.joined.Store(true)
}

// close ends the joined window at ends(s); the connection's read goroutine
// must have stopped.
func (r *receiver) close(ends func(int) int64) {
	r.joined.Store(false)
	r.tr.Close(ends)
}

// outstanding returns how many messages already sent (final[s] being each
// sender's next sequence number) the current window still waits for.
func (r *receiver) outstanding(final func(int) int64) int64 {
	if !r.joined.Load() {
		return 0
	}
	var want int64
	for _, s := range r.senders {
		want += final(s)
	}
	want -= r.baseSum.Load()
	got := r.total.Load() - r.winStart.Load()
	return max(want-got, 0)
}
