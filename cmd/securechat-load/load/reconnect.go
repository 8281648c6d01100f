package load

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// With --reconnect a user whose connection ends (its node was killed or
// drained) comes back as a real client would: it dials the next address of
// --addr with a back-off, registers again (an alternate nick while the
// cluster still holds its own), rejoins, and fills the gap with
// CHATHISTORY AFTER the last msgid it saw, merging by message: a message
// seen live and in history counts once, one seen in neither is lost. Its
// receive window stays open throughout, so every message sent to its
// channel while it was away is expected, exactly, by sender and seq.
//
// A sender stops while it is away. What it wrote into the dying
// connection may or may not have reached the server; it learns which from
// its acknowledgement PINGs (a PONG says every line before the PING was
// processed) and from its own messages in the gap fill. Messages that
// reached neither are not expected by anyone (Counts.Unconfirmed); if a
// receiver saw one all the same it was accepted and fanned out yet is
// missing from history (Counts.Unstored).

// errAway is a send refused because the user is reconnecting.
var errAway = errors.New("user away: reconnecting")

// Reconnect back-off: the first retry waits reconnectMin, each further one
// twice as long, up to reconnectMax. The first attempt goes at once to the
// next address.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 2 * time.Second
	ackEvery     = 100 * time.Millisecond // a sender's acknowledgement PINGs
	fillPages    = 200                    // CHATHISTORY pages one gap fill may take
	altNicks     = 3                      // alternate nicks tried on 433
)

// span is the sequence numbers [lo, hi) of one sender.
type span struct{ lo, hi int64 }

// outageClass says when a live delivery arrived: with no user away, or
// during an outage (some user away) to a user that stayed connected
// through it, or to one that dropped in it.
type outageClass uint8

const (
	outsideOutage outageClass = iota
	othersInOutage
	droppedInOutage
	outageClasses
)

// outages tracks the periods during which at least one user is away. Its
// state is read on every delivery, so it is one atomic word: the current
// outage's number shifted left, and 1 while it lasts.
type outages struct {
	mu      sync.Mutex
	away    int
	epoch   int64
	state   atomic.Int64
	first   time.Time // first drop of the run
	last    time.Time // last recovery of the run
	opened  time.Time
	spent   time.Duration // summed length of the outages
	windows int
}

// begin counts a user away and returns the number of the outage it is in.
func (o *outages) begin() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.away++; o.away == 1 {
		o.epoch++
		o.windows++
		o.opened = time.Now()
		if o.first.IsZero() {
			o.first = o.opened
		}
		o.state.Store(o.epoch<<1 | 1)
	}
	return o.epoch
}

// end counts a user back (or given up).
func (o *outages) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.away--; o.away == 0 {
		o.last = time.Now()
		o.spent += o.last.Sub(o.opened)
		o.state.Store(o.epoch << 1)
	}
}

// reconnects is a run's --reconnect accounting.
type reconnects struct {
	out                             outages
	drops, back, alts, failed, reqs atomic.Int64
	backLat                         Samples

	mu        sync.Mutex
	voids     map[int][]span // by sender: seqs written but never accepted
	firstDrop string
	firstFail string
	auditErr  string
	auditReqs atomic.Int64
}

func newReconnects() *reconnects { return &reconnects{voids: map[int][]span{}} }

// note keeps the first drop cause and the first failed attempt's error.
func (rc *reconnects) note(first *string, err error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if *first == "" && err != nil {
		*first = err.Error()
	}
}

func (rc *reconnects) addVoid(sender int, v span) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.voids[sender] = append(rc.voids[sender], v)
}

func (rc *reconnects) voidsOf(sender int) []span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.voids[sender])
}

// gapState is one user's --reconnect state. It outlives connections; all
// of it but ackSeq (and pinged, guarded by the user's sendMu) belongs to
// the goroutine reading the user's connection.
type gapState struct {
	rc        *reconnects
	self      int    // the user's index: its own messages in a fill
	dropEpoch int64  // the outage it last dropped in
	last      anchor // the latest live message
	cur       anchor // last when the latest acknowledgement PONG came
	prev      anchor // ... and when the one before it came
	ackSeq    atomic.Int64
	pinged    int64 // seq of the outstanding acknowledgement PING
	pingAt    time.Time
	ownMax    int64 // highest own seq seen in the current fill
	drops     int   // how often the user dropped
	at        int   // the node of --addr the user is connected to
}

// anchor is a message a gap fill may start from: its msgid and server
// time, raw from its tags.
type anchor struct{ id, time []byte }

func (a *anchor) set(id, at []byte) {
	a.id, a.time = append(a.id[:0], id...), append(a.time[:0], at...)
}

// class returns the outage class of a delivery arriving now.
func (g *gapState) class() outageClass {
	switch st := g.rc.out.state.Load(); {
	case st&1 == 0:
		return outsideOutage
	case st>>1 == g.dropEpoch:
		return droppedInOutage
	}
	return othersInOutage
}

// noteLive remembers a live message's msgid and time: the gap fill starts
// there.
func (g *gapState) noteLive(line []byte) { g.last.set(tagValue(line, "msgid"), tagValue(line, "time")) }

// pong takes an acknowledgement: every seq below the PING's was processed.
func (g *gapState) pong(token string) {
	v, ok := strings.CutPrefix(token, "ack-")
	if !ok {
		return
	}
	q, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return
	}
	g.prev.set(g.cur.id, g.cur.time)
	g.cur.set(g.last.id, g.last.time)
	g.ackSeq.Store(q)
}

// ackPing appends an acknowledgement PING for seqs below next to a
// sender's batch, at most one outstanding and one per ackEvery. The
// caller holds the user's sendMu.
func (g *gapState) ackPing(b []byte, next int64) []byte {
	if g.ackSeq.Load() < g.pinged || time.Since(g.pingAt) < ackEvery {
		return b
	}
	g.pinged, g.pingAt = next, time.Now()
	b = append(b, "PING :ack-"...)
	return append(strconv.AppendInt(b, next, 10), '\r', '\n')
}

// fillCopy accounts one message of a gap fill's CHATHISTORY batch.
func (g *gapState) fillCopy(rx *receiver, sender int, seq int64) {
	switch {
	case sender == g.self:
		g.ownMax = max(g.ownMax, seq)
	case rx.tr.Recover(sender, seq):
		rx.count(sender)
	}
}

// fillFrom is where a gap fill starts: after the last live message, or,
// for a sender, after the one it had seen one acknowledgement earlier,
// before any of its unacknowledged messages reached the server; overlap
// before that message's time if positive; with no message yet, from the
// join.
func (g *gapState) fillFrom(sender bool, joined time.Time, overlap time.Duration) string {
	a := g.last
	if sender {
		a = g.prev
	}
	const stamp = "2006-01-02T15:04:05.000Z"
	at, err := time.Parse(time.RFC3339Nano, string(a.time))
	switch {
	case len(a.id) == 0:
		return "timestamp=" + joined.Add(-time.Second).UTC().Format(stamp)
	case overlap > 0 && err == nil:
		return "timestamp=" + at.Add(-overlap).UTC().Format(stamp)
	}
	return "msgid=" + string(a.id)
}

// voidedSum is the number of seqs the senders lost with their connections.
func (g *gapState) voidedSum(senders []int) int64 {
	var n int64
	for _, s := range senders {
		for _, v := range g.rc.voidsOf(s) {
			n += v.hi - v.lo
		}
	}
	return n
}

// reconnect brings the user back after its connection ended with cause:
// it returns the new connection, or nil when the run ended first.
func (u *user) reconnect(ctx context.Context, cause error) *conn {
	r, g := u.run, u.rx.gap
	t0 := time.Now()
	sentAtDrop := u.pause()
	r.rc.drops.Add(1)
	r.rc.note(&r.rc.firstDrop, cause)
	g.dropEpoch, g.ownMax = r.rc.out.begin(), -1
	g.drops++
	defer r.rc.out.end()
	if j := r.cfg.ReconnectJitter; j > 0 && !sleepOrStop(ctx, rand.N(j), r.runDone) {
		return nil
	}
	wait := reconnectMin
	for attempt := 0; ; attempt++ {
		if u.closing.Load() {
			return nil
		}
		node := (g.at + 1 + attempt) % len(r.cfg.Addrs)
		c, err := u.rejoin(ctx, node)
		if err == nil {
			g.at = node
			u.settle(sentAtDrop)
			if !u.resume(c) {
				c.close()
				return nil
			}
			r.rc.back.Add(1)
			r.rc.backLat.AddDuration(time.Since(t0))
			return c
		}
		r.rc.failed.Add(1)
		r.rc.note(&r.rc.firstFail, err)
		if !sleepOrStop(ctx, wait, r.runDone) {
			return nil
		}
		wait = min(2*wait, reconnectMax)
	}
}

// rejoin connects to node, registers, joins and fills the gap.
func (u *user) rejoin(ctx context.Context, node int) (*conn, error) {
	r := u.run
	addr := r.cfg.dialAddr(node, u.transport())
	c, err := dialConn(ctx, r.cfg, addr, u.transport(), r.tlsFor(addr), u.nick, r.runID)
	if err != nil {
		return nil, err
	}
	dl := time.Now().Add(r.cfg.ConnectTO)
	if r.hard.Before(dl) {
		dl = r.hard
	}
	c.nc.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	defer stop()
	ended := make(chan struct{})
	defer close(ended)
	go func() { // the run ends: give up at once
		select {
		case <-r.runDone:
			c.nc.Close()
		case <-ended:
		}
	}()
	c.altNicks = altNicks
	if err := c.register(r.cfg); err != nil {
		c.nc.Close()
		return nil, err
	}
	if c.nick != u.nick {
		r.rc.alts.Add(1)
	}
	c.rx = u.rx
	if _, err := c.join(u.channel, func() {}); err != nil {
		c.nc.Close()
		return nil, err
	}
	if err := u.fill(c); err != nil {
		c.nc.Close()
		return nil, err
	}
	c.nc.SetDeadline(r.hard)
	return c, nil
}

// tlsFor returns the run's TLS settings for addr, shared by the users
// that first dialled it.
func (r *runner) tlsFor(addr string) *tls.Config {
	if tc := r.tc[addr]; tc != nil {
		return tc
	}
	return r.cfg.tlsConfig(addr)
}

// fill asks for the channel's history since the gap's start.
func (u *user) fill(c *conn) error {
	g := u.rx.gap
	c.onHistory = func(sender int, seq int64) { g.fillCopy(u.rx, sender, seq) }
	defer func() { c.onHistory = nil }()
	return c.historyAfter(u.channel, g.fillFrom(u.sender, u.rx.joinedAt, u.run.cfg.FillOverlap), fillPages, &u.run.rc.reqs)
}

// historyAfter sends CHATHISTORY AFTER channel from, page by page, until
// a page comes back short or pages were asked for, counting requests in
// reqs; c.onHistory sees the messages.
func (c *conn) historyAfter(channel, from string, pages int, reqs *atomic.Int64) error {
	return c.historyPages(channel, "AFTER "+channel+" "+from, pages, reqs, func() []byte { return c.batchLast })
}

// historyBefore pages backwards from the newest message (LATEST, then
// BEFORE the oldest of each page); see historyAfter.
func (c *conn) historyBefore(channel string, pages int, reqs *atomic.Int64) error {
	return c.historyPages(channel, "LATEST "+channel+" *", pages, reqs, func() []byte { return c.batchFirst })
}

// historyPages sends CHATHISTORY first, then BEFORE or AFTER (as first
// goes) the msgid next returns after each full page.
func (c *conn) historyPages(channel, first string, pages int, reqs *atomic.Int64, next func() []byte) error {
	limit := c.histMax
	if limit == 0 {
		limit = 100
	}
	sub := "AFTER"
	if strings.HasPrefix(first, "LATEST") {
		sub = "BEFORE"
	}
	req := first
	for range pages {
		c.batchFirst, c.batchLast = c.batchFirst[:0], c.batchLast[:0]
		select { // a stale result
		case <-c.batchDone:
		default:
		}
		reqs.Add(1)
		if err := c.send("CHATHISTORY " + req + " " + strconv.Itoa(limit)); err != nil {
			return err
		}
		var res batchResult
		err := c.until(func(m *message) (bool, error) {
			select {
			case res = <-c.batchDone:
				return true, nil
			default:
				return false, nil
			}
		})
		if err == nil {
			err = res.err
		}
		if err != nil || res.lines < limit || len(next()) == 0 {
			return err
		}
		req = sub + " " + channel + " msgid=" + string(next())
	}
	return nil
}

// pause stops the user's sender and returns its next seq: the end of what
// it may have written into the lost connection.
func (u *user) pause() int64 {
	u.sendMu.Lock()
	defer u.sendMu.Unlock()
	u.away = true
	if !u.sender {
		return 0
	}
	return u.run.seq[u.idx].Load()
}

// settle decides, once the gap is filled, which of the sender's messages
// up to sentAtDrop the server never took: those after both the last
// acknowledged one and the last of its own found in history.
func (u *user) settle(sentAtDrop int64) {
	if !u.sender {
		return
	}
	g := u.rx.gap
	if took := max(g.ackSeq.Load(), g.ownMax+1); took < sentAtDrop {
		u.run.rc.addVoid(u.idx, span{took, sentAtDrop})
	}
	// Everything below sentAtDrop is settled now: a later drop must not
	// void any of it again.
	g.ackSeq.Store(sentAtDrop)
}

// resume makes c the user's connection and lets its sender go on; false
// if the run is ending.
func (u *user) resume(c *conn) bool {
	u.sendMu.Lock()
	defer u.sendMu.Unlock()
	if u.closing.Load() {
		return false
	}
	u.conn, u.away = c, false
	u.rx.gap.pinged = u.rx.gap.ackSeq.Load()
	return true
}

// awaitBack waits until the user is connected again after a send failed;
// false if sending stopped first.
func (u *user) awaitBack(ctx context.Context) bool {
	for {
		u.sendMu.Lock()
		ok := !u.away && u.conn != u.broken
		u.sendMu.Unlock()
		if ok {
			return true
		}
		if !sleepOrStop(ctx, 10*time.Millisecond, u.run.stopSend) {
			return false
		}
	}
}

// reconnectResult summarises the drops and recoveries of a run, with the
// message counts of all receivers.
func (r *runner) reconnectResult(counts *Counts) *ReconnectResult {
	rc := r.rc
	var lat [outageClasses]Histogram
	for _, u := range r.users {
		for k := range lat {
			lat[k].Merge(u.rx.tr.OutageLatency(outageClass(k)))
		}
	}
	rc.out.mu.Lock()
	defer rc.out.mu.Unlock()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	res := &ReconnectResult{
		Drops: rc.drops.Load(), Reconnections: rc.back.Load(), AltNicks: rc.alts.Load(),
		FailedAttempts: rc.failed.Load(), HistoryRequests: rc.reqs.Load(),
		FirstDrop: rc.firstDrop, FirstFailure: rc.firstFail, BackMS: rc.backLat.Summary(),
		Recovered: counts.Recovered, Lost: counts.Lost, LiveDuplicates: counts.Duplicates,
		Unconfirmed: counts.Unconfirmed, Unstored: counts.Unstored,
		Outages: rc.out.windows, OutageSeconds: rc.out.spent.Seconds(),
		OutsideMS: HistDist(&lat[outsideOutage]), OthersInOutageMS: HistDist(&lat[othersInOutage]),
		DroppedInOutageMS: HistDist(&lat[droppedInOutage]),
	}
	res.NeverBack = res.Drops - res.Reconnections
	if !rc.out.first.IsZero() && !rc.out.last.IsZero() {
		res.WindowSeconds = rc.out.last.Sub(rc.out.first).Seconds()
	}
	if res.OutsideMS.P99 > 0 {
		res.P99Ratio = res.OthersInOutageMS.P99 / res.OutsideMS.P99
	}
	return res
}

// ReconnectResult describes, with --reconnect, the users' drops and how
// they came back.
type ReconnectResult struct {
	Drops          int64  `json:"drops"`
	Reconnections  int64  `json:"reconnections"` // back and replayed
	NeverBack      int64  `json:"never_back"`
	AltNicks       int64  `json:"alt_nicks"`       // came back under an alternate nick (433)
	FailedAttempts int64  `json:"failed_attempts"` // reconnect attempts that failed
	FirstDrop      string `json:"first_drop,omitempty"`
	FirstFailure   string `json:"first_failure,omitempty"`
	// BackMS is the time from the drop to back and replayed: registered,
	// joined and the gap filled from history.
	BackMS          Dist  `json:"back_ms"`
	HistoryRequests int64 `json:"history_requests"`
	// The message counts of messages.* that matter here: recovered from
	// history, lost (in neither live nor history), live duplicates (must
	// be 0), and the senders' messages lost with their connections.
	Recovered      int64 `json:"recovered"`
	Lost           int64 `json:"lost"`
	LiveDuplicates int64 `json:"live_duplicates"`
	Unconfirmed    int64 `json:"unconfirmed"`
	Unstored       int64 `json:"unstored"`
	// Outages are the periods with some user away; WindowSeconds spans
	// the first drop to the last recovery. Live latency in the measured
	// window is split: outside any outage, during one to users that
	// stayed connected, during one to users that dropped in it.
	Outages           int     `json:"outages"`
	OutageSeconds     float64 `json:"outage_seconds"`
	WindowSeconds     float64 `json:"window_seconds"`
	OutsideMS         Dist    `json:"live_outside_ms"`
	OthersInOutageMS  Dist    `json:"live_others_in_outage_ms"`
	DroppedInOutageMS Dist    `json:"live_dropped_in_outage_ms"`
	P99Ratio          float64 `json:"others_p99_ratio,omitempty"` // others in outage / outside
	// The loss audit (audit.go): deliveries lost to users that dropped;
	// distinct messages some receiver lost, of them those history has,
	// and those it has not (lost for good).
	LostByDropped     int64 `json:"lost_by_dropped"`
	LostMessages      int64 `json:"lost_messages"`
	LostInHistory     int64 `json:"lost_in_history"`
	AbsentFromHistory int64 `json:"absent_from_history"`
	// SkippedByAfter of LostInHistory were found paging backwards but not
	// forwards (CHATHISTORY AFTER from the run's start), the way a gap
	// fill reads.
	SkippedByAfter int64 `json:"skipped_by_after"`
	// AbsentSenderStayed of those were sent by users that never dropped;
	// AbsentSample names a few.
	AbsentSenderStayed int64    `json:"absent_sender_stayed"`
	AbsentSample       []string `json:"absent_sample,omitempty"`
	AuditError         string   `json:"audit_error,omitempty"`
}
