package load

import (
	"math"
	"sync/atomic"
	"time"
)

// counter is an atomic counter padded to its own cache line, so senders'
// counters updated from many goroutines do not share lines.
type counter struct {
	atomic.Int64
	_ [56]byte
}

// ackGate counts one sender's deliveries (maxrate flow control) and wakes
// the sender, once, when the count reaches the mark it waits for. Waking
// on a mark rather than polling keeps a sender with a full window from
// sleeping past the moment its window opens, and waking once per mark
// rather than per delivery keeps 49 receivers from waking it 49 times.
type ackGate struct {
	n    atomic.Int64
	mark atomic.Int64 // wake the sender when n reaches it; noMark: nobody waits
	wake chan struct{}
	_    [40]byte
}

const noMark = math.MaxInt64

func newAckGates(n int) []ackGate {
	gs := make([]ackGate, n)
	for i := range gs {
		gs[i].mark.Store(noMark)
		gs[i].wake = make(chan struct{}, 1)
	}
	return gs
}

// add counts one delivery; it runs on receivers' read goroutines.
func (g *ackGate) add() {
	n := g.n.Add(1)
	if m := g.mark.Load(); n >= m && g.mark.CompareAndSwap(m, noMark) {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
}

// waitFor blocks until at least mark deliveries are counted, or timeout.
// Only the sender that owns the gate calls it.
func (g *ackGate) waitFor(mark int64, timeout time.Duration, stop <-chan struct{}) {
	g.mark.Store(mark)
	if g.n.Load() >= mark { // counted before the mark was visible
		g.mark.Store(noMark)
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-g.wake:
	case <-t.C:
	case <-stop:
	}
	g.mark.Store(noMark)
	select { // a wake-up that raced with the timeout must not end the next wait early
	case <-g.wake:
	default:
	}
}

// receiver is the accounting side of one simulated user. It outlives
// connections: a churning user reconnects with the same receiver. The
// tracker belongs to whichever goroutine reads the user's connection; the
// atomics let the progress line and the drain check look on.
type receiver struct {
	tr       *Tracker
	senders  []int         // senders sharing this user's channel, self excluded
	seq      []counter     // the run's next sequence number per sender
	acked    []ackGate     // the run's deliveries per sender, for flow control
	flow     bool          // update acked (maxrate only: it is a contended add)
	phase    *atomic.Int32 // the run's current phase: where latency goes
	total    atomic.Int64  // fresh deliveries over the whole run
	winStart atomic.Int64  // total when the current window opened
	baseSum  atomic.Int64  // sum of the current window's bases
	joined   atomic.Bool
	joinedAt time.Time // when the window opened; the read goroutine's
	gap      *gapState // --reconnect only
}

// observe accounts one live message that took latency nanoseconds from
// send to receipt; it runs on the read goroutine.
func (r *receiver) observe(sender int, seq, latency int64) {
	if !r.tr.Observe(sender, seq, time.Duration(latency), phase(r.phase.Load())) {
		return
	}
	r.count(sender)
	if r.gap != nil && phase(r.phase.Load()) == phaseMain {
		r.tr.RecordOutage(r.gap.class(), time.Duration(latency))
	}
}

// count adds one fresh delivery from sender.
func (r *receiver) count(sender int) {
	r.total.Add(1)
	if r.flow {
		r.acked[sender].add()
	}
}

// open starts a joined window; it runs on the goroutine reading the
// connection, when the server echoes the JOIN.
func (r *receiver) open() {
	sum := r.tr.Open(func(s int) int64 { return r.seq[s].Load() })
	r.joinedAt = time.Now()
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
	if r.gap != nil {
		want -= r.gap.voidedSum(r.senders)
	}
	got := r.total.Load() - r.winStart.Load()
	return max(want-got, 0)
}
