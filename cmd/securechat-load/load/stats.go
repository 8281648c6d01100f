package load

import (
	"math"
	"math/bits"
	"slices"
	"sync"
	"time"
)

// histSub is the number of sub-buckets per power of two; 32 keeps the
// relative error of a recorded value under about 3%.
const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	histMaxBits = 42 // values are clamped to 2^42 ns (about 73 minutes)
	histBuckets = (histMaxBits-histSubBits)*histSub + 2*histSub
)

// Histogram is a log-linear histogram of durations in nanoseconds, in the
// spirit of HdrHistogram: exact below 64 ns, then 32 buckets per power of
// two. Recording is allocation-free; it is not safe for concurrent use, so
// each receiver owns one and they are merged at the end.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
	sum    float64
}

// bucketOf returns the bucket index for v (v >= 0).
func bucketOf(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	return shift*histSub + int(v>>shift)
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (lo, width uint64) {
	if i < 2*histSub {
		return uint64(i), 1
	}
	shift := i/histSub - 1
	sub := uint64(i - shift*histSub)
	return sub << shift, 1 << shift
}

// Record adds one duration. Negative durations (clock skew between the
// sender's and the receiver's reading of the wall clock) count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if v > h.max {
		h.max = v
	}
	if v >= 1<<histMaxBits {
		v = 1<<histMaxBits - 1
	}
	h.counts[bucketOf(uint64(v))]++
	h.n++
	h.sum += float64(v)
}

// Merge adds every sample of o to h; a nil o adds nothing.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Count returns the number of recorded samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded duration, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the arithmetic mean, or 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value at quantile q in [0,1] using the nearest-rank
// method: the middle of the bucket holding the ceil(q*n)-th smallest sample,
// never more than the exact maximum, which is returned for the last rank. It returns 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	if rank == h.n {
		return time.Duration(h.max) // the largest sample is known exactly
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketRange(i)
			return min(time.Duration(lo+(w-1)/2), time.Duration(h.max))
		}
	}
	return time.Duration(h.max)
}

// Counts is the sequence accounting of one or more receivers.
type Counts struct {
	Expected   int64 // messages sent by same-channel senders while joined
	Received   int64 // in-window messages received once
	Lost       int64 // Expected minus in-window messages received
	Duplicates int64 // a (sender, seq) seen again
	Reordered  int64 // a seq lower than one already seen from that sender
	Stale      int64 // seq predates the join: not counted as a delivery
	Late       int64 // seq at or after the window end: received, not expected
	Foreign    int64 // from a sender this receiver does not share a channel with
	// With --reconnect: in-window messages first seen in a CHATHISTORY
	// gap fill (they are in Received too); messages their sender wrote
	// into a connection that died and could not find in history afterwards
	// (not expected); and of those, the ones a receiver saw all the same:
	// accepted and fanned out, yet absent from history.
	Recovered   int64
	Unconfirmed int64
	Unstored    int64
}

// Add accumulates o into c.
func (c *Counts) Add(o Counts) {
	c.Expected += o.Expected
	c.Received += o.Received
	c.Lost += o.Lost
	c.Duplicates += o.Duplicates
	c.Reordered += o.Reordered
	c.Stale += o.Stale
	c.Late += o.Late
	c.Foreign += o.Foreign
	c.Recovered += o.Recovered
	c.Unconfirmed += o.Unconfirmed
	c.Unstored += o.Unstored
}

// bitset is a growable set of small non-negative integers.
type bitset []uint64

func (b *bitset) testAndSet(i int64) bool {
	w := int(i >> 6)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w-len(*b)+1+len(*b)/2)...)
	}
	m := uint64(1) << (uint(i) & 63)
	was := (*b)[w]&m != 0
	(*b)[w] |= m
	return was
}

// has reports whether i is a member.
func (b bitset) has(i int64) bool {
	w := int(i >> 6)
	return w < len(b) && b[w]&(1<<(uint(i)&63)) != 0
}

// countBelow returns how many members are smaller than n.
func (b bitset) countBelow(n int64) int64 {
	var c int64
	for w, word := range b {
		base := int64(w) << 6
		switch {
		case base >= n:
			return c
		case base+64 <= n:
			c += int64(bits.OnesCount64(word))
		default:
			c += int64(bits.OnesCount64(word & (1<<uint(n-base) - 1)))
		}
	}
	return c
}

// senderWindow tracks one sender's sequence numbers at one receiver during
// one joined session.
type senderWindow struct {
	base   int64 // first seq sent after the receiver joined
	maxSeq int64 // highest seq seen, base-1 when none
	seen   bitset
	live   bitset // with merge: the seqs seen live (seen adds history's)
	end    int64  // the window's end, once closed
}

// phase says which latency histogram a live delivery is recorded in.
type phase int32

const (
	phaseIdle     phase = iota // warmup, transitions, drain: not recorded
	phaseBaseline              // churn: churners connected and idle
	phaseMain                  // the measured window (--duration)
)

// Tracker does the sequence accounting for one receiver: per sender, which
// sequence numbers arrived inside the receiver's joined window, in which
// order, and how often. Deliveries are counted by path (see nodes.go). It
// is owned by the receiver's read goroutine; the summary is read only after
// that goroutine has stopped.
type Tracker struct {
	slot    []int32 // sender index -> position in win, -1: not tracked
	win     []senderWindow
	path    []path // position in win -> path; nil: all same-node
	open    bool
	counts  [paths]Counts
	foreign int64
	// Latency histograms are allocated on first use: they are 10 kB each,
	// and a connect storm's 10,000 receivers record none.
	latency [paths]*Histogram // phaseMain
	base    *Histogram        // phaseBaseline
	// With --reconnect (EnableMerge): live copies and history copies are
	// told apart, seqs whose sender lost them are left out, and live
	// latency is also split by outage class.
	merge  bool
	voids  func(sender int) []span
	outage [outageClasses]*Histogram // phaseMain
}

// NewTracker returns a tracker for a receiver that shares a channel with
// the given senders (its own index excluded by the caller); nSenders is the
// total number of senders in the run.
func NewTracker(nSenders int, senders []int) *Tracker {
	t := &Tracker{slot: make([]int32, nSenders), win: make([]senderWindow, len(senders))}
	for i := range t.slot {
		t.slot[i] = -1
	}
	for i, s := range senders {
		t.slot[s] = int32(i)
	}
	return t
}

// SetCrossNode marks the senders whose messages reach this receiver from
// another server address; call it before the first Open.
func (t *Tracker) SetCrossNode(cross func(sender int) bool) {
	t.path = make([]path, len(t.win))
	for s, pos := range t.slot {
		if pos >= 0 && cross(s) {
			t.path[pos] = crossNode
		}
	}
}

// pathOf returns the path of the sender at position pos.
func (t *Tracker) pathOf(pos int32) path {
	if t.path == nil {
		return sameNode
	}
	return t.path[pos]
}

// Senders returns how many senders this tracker expects messages from.
func (t *Tracker) Senders() int { return len(t.win) }

// Open starts a joined window and returns the sum of the bases. bases(i)
// must return the next sequence number sender i will use, read after the
// server confirmed the join, so every seq at or above it was sent while the
// receiver was a member.
func (t *Tracker) Open(bases func(sender int) int64) int64 {
	var sum int64
	for s, pos := range t.slot {
		if pos >= 0 {
			b := bases(s)
			sum += b
			// seen[:0] keeps the capacity; growing appends zeroed words.
			t.win[pos] = senderWindow{base: b, maxSeq: b - 1, seen: t.win[pos].seen[:0], live: t.win[pos].live[:0]}
		}
	}
	t.open = true
	return sum
}

// window returns the open window seq of sender belongs to, with the
// counts of its path and its position; nil, counted as foreign or stale,
// if there is none.
func (t *Tracker) window(sender int, seq int64) (*senderWindow, *Counts, int32) {
	if sender < 0 || sender >= len(t.slot) || t.slot[sender] < 0 || !t.open {
		t.foreign++
		return nil, nil, 0
	}
	pos := t.slot[sender]
	w, c := &t.win[pos], &t.counts[t.pathOf(pos)]
	if seq < w.base {
		c.Stale++
		return nil, nil, 0
	}
	return w, c, pos
}

// Observe records one live message from sender with sequence number seq.
// It reports whether the message counts as a fresh in-window delivery.
// Its latency is recorded in the histogram of phase p.
func (t *Tracker) Observe(sender int, seq int64, latency time.Duration, p phase) bool {
	w, c, pos := t.window(sender, seq)
	if w == nil {
		return false
	}
	if off := seq - w.base; t.merge {
		if w.live.testAndSet(off) {
			c.Duplicates++
			return false
		}
		if w.seen.testAndSet(off) {
			return false // the gap fill had it: it counts once
		}
	} else if w.seen.testAndSet(off) {
		c.Duplicates++
		return false
	}
	if seq < w.maxSeq {
		c.Reordered++
	} else {
		w.maxSeq = seq
	}
	switch p {
	case phaseMain:
		record(&t.latency[t.pathOf(pos)], latency)
	case phaseBaseline:
		record(&t.base, latency)
	}
	return true
}

// record adds d to *h, allocating the histogram on first use.
func record(h **Histogram, d time.Duration) {
	if *h == nil {
		*h = new(Histogram)
	}
	(*h).Record(d)
}

// Close ends the joined window: ends(i) is the first sequence number of
// sender i that the receiver is no longer expected to get. Messages seen at
// or beyond it count as late rather than received.
func (t *Tracker) Close(ends func(sender int) int64) {
	if !t.open {
		return
	}
	for s, pos := range t.slot {
		if pos < 0 {
			continue
		}
		w := &t.win[pos]
		end := max(ends(s), w.base)
		w.end = end
		got := w.seen.countBelow(end - w.base)
		all := w.seen.countBelow(math.MaxInt64)
		c := &t.counts[t.pathOf(pos)]
		var void, voidSeen int64
		if t.voids != nil {
			void, voidSeen = w.voided(t.voids(s), end)
		}
		c.Expected += end - w.base - void
		c.Received += got - voidSeen
		c.Lost += end - w.base - void - (got - voidSeen)
		c.Late += all - got
		c.Unconfirmed += void
		c.Unstored += voidSeen
	}
	t.open = false
}

// voided returns how many seqs of w's window below end fall in the spans
// and how many of those were seen.
func (w *senderWindow) voided(spans []span, end int64) (n, seen int64) {
	for _, v := range spans {
		lo, hi := max(v.lo, w.base), min(v.hi, end)
		if lo >= hi {
			continue
		}
		n += hi - lo
		seen += w.seen.countBelow(hi-w.base) - w.seen.countBelow(lo-w.base)
	}
	return n, seen
}

// Missing calls fn for each message the last closed window expected and
// did not receive, sender by sender in seq order.
func (t *Tracker) Missing(fn func(sender int, seq int64)) {
	for s, pos := range t.slot {
		if pos < 0 {
			continue
		}
		w := &t.win[pos]
		var voids []span
		if t.voids != nil {
			voids = t.voids(s)
		}
		for q := w.base; q < w.end; q++ {
			if !w.seen.has(q-w.base) && !slices.ContainsFunc(voids, func(v span) bool { return v.lo <= q && q < v.hi }) {
				fn(s, q)
			}
		}
	}
}

// EnableMerge prepares the tracker for --reconnect: Recover may add
// history copies, a live copy of a recovered message counts once, and
// voids(s) lists the seqs sender s wrote into a connection that died
// without them reaching the server; they are not expected. Call it
// before the first Open.
func (t *Tracker) EnableMerge(voids func(sender int) []span) {
	t.merge, t.voids = true, voids
}

// Recover records a copy of sender's message seq from a CHATHISTORY gap
// fill. It reports whether the message was new to the receiver; a
// message seen live and in history counts once. Order is not checked:
// history is not live traffic.
func (t *Tracker) Recover(sender int, seq int64) bool {
	w, c, _ := t.window(sender, seq)
	if w == nil {
		return false
	}
	if w.seen.testAndSet(seq - w.base) {
		return false
	}
	c.Recovered++
	return true
}

// RecordOutage adds a live latency to the histogram of outage class k.
func (t *Tracker) RecordOutage(k outageClass, d time.Duration) { record(&t.outage[k], d) }

// OutageLatency returns the live latency histogram of class k, nil if empty.
func (t *Tracker) OutageLatency(k outageClass) *Histogram { return t.outage[k] }

// Totals returns the accounting of all closed windows.
func (t *Tracker) Totals() Counts {
	c := Counts{Foreign: t.foreign}
	for _, pc := range t.counts {
		c.Add(pc)
	}
	return c
}

// PathTotals returns the accounting of the deliveries on path p; messages
// from senders outside the receiver's channel have no path and are only
// in Totals.
func (t *Tracker) PathTotals(p path) Counts { return t.counts[p] }

// Latency returns the receiver's end-to-end latency histogram of the
// measured window, over all paths.
func (t *Tracker) Latency() *Histogram {
	var h Histogram
	for _, ph := range t.latency {
		h.Merge(ph)
	}
	return &h
}

// PathLatency returns the measured window's latency histogram of the
// deliveries on path p, nil if none was recorded.
func (t *Tracker) PathLatency(p path) *Histogram { return t.latency[p] }

// BaselineLatency returns the latency histogram of the baseline window, nil
// if nothing was recorded in it.
func (t *Tracker) BaselineLatency() *Histogram { return t.base }

// Samples collects a modest number of values (one per connection, rejoin
// or history request) for exact percentiles. It is safe for concurrent use.
type Samples struct {
	mu sync.Mutex
	v  []float64
}

// Add records one value.
func (s *Samples) Add(v float64) {
	s.mu.Lock()
	s.v = append(s.v, v)
	s.mu.Unlock()
}

// AddDuration records d in milliseconds.
func (s *Samples) AddDuration(d time.Duration) { s.Add(float64(d) / float64(time.Millisecond)) }

// Summary returns count, sum and nearest-rank percentiles of the values.
func (s *Samples) Summary() Dist {
	s.mu.Lock()
	v := slices.Clone(s.v)
	s.mu.Unlock()
	if len(v) == 0 {
		return Dist{}
	}
	slices.Sort(v)
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(v)))) - 1
		return v[min(max(i, 0), len(v)-1)]
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	return Dist{Count: len(v), Mean: sum / float64(len(v)), P50: rank(0.5), P90: rank(0.9), P99: rank(0.99), Max: v[len(v)-1]}
}

// Dist is a summary of a distribution, in the unit of its samples
// (milliseconds for durations).
type Dist struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// HistDist summarises a latency histogram in milliseconds.
func HistDist(h *Histogram) Dist {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Dist{
		Count: int(h.Count()), Mean: ms(h.Mean()),
		P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P99: ms(h.Quantile(0.99)), Max: ms(h.Max()),
	}
}
