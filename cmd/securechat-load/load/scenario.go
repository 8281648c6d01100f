package load

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// user is one simulated user. Its goroutine (see lifecycle) owns conn and
// decides what the user does; a second goroutine reads conn.
type user struct {
	run     *runner
	idx     int
	nick    string
	channel string
	sender  bool
	churner bool
	ws      bool   // speaks IRC over WebSocket rather than TCP
	node    int    // index of its server address in --addr (nodeOf)
	addr    string // where it dials: node's IRC or web listener
	rx      *receiver
	connErr error // the first connection's outcome, set before connWG.Done

	tc       *tls.Config // the run's settings, with this user's session cache
	conn     *conn
	readDone chan struct{}
	closing  atomic.Bool // set before a deliberate disconnect

	// With --reconnect the read goroutine replaces conn; sendMu guards
	// conn, away and broken then, and numbering and writing a batch.
	sendMu sync.Mutex
	away   bool  // reconnecting: the sender waits
	broken *conn // a write to it failed
}

// connectAll starts every user's goroutine and waits until each has
// connected (or failed). In the connect-storm scenario all dial at the same
// instant; otherwise at most 128 handshakes run at once.
func (r *runner) connectAll(ctx context.Context, usersWG *sync.WaitGroup) time.Duration {
	var connWG sync.WaitGroup
	gate := make(chan struct{})
	limit := make(chan struct{}, 128)
	if r.cfg.Scenario == ScenarioConnectStorm {
		limit = make(chan struct{}, len(r.users))
	}
	for _, u := range r.users {
		connWG.Add(1)
		usersWG.Add(1)
		if u.sender && r.cfg.Scenario != ScenarioConnectStorm {
			r.senders.Add(1)
			if r.cfg.Preload > 0 {
				r.preloaded.Add(1)
			}
		}
		go u.lifecycle(ctx, gate, limit, &connWG, usersWG)
	}
	start := time.Now()
	close(gate)
	connWG.Wait()
	return time.Since(start)
}

// lifecycle is the user goroutine: connect, play the role, disconnect.
func (u *user) lifecycle(ctx context.Context, gate, limit chan struct{}, connWG, usersWG *sync.WaitGroup) {
	defer usersWG.Done()
	<-gate
	limit <- struct{}{}
	u.connErr = u.connect(ctx, false)
	<-limit
	if u.connErr == nil {
		u.run.connected.Add(1)
	}
	connWG.Done()
	u.playRole(ctx)
	<-u.run.runDone
	u.disconnect(u.run.finalSeq)
}

// playRole does the scenario's work for this user until sending stops.
func (u *user) playRole(ctx context.Context) {
	r := u.run
	switch {
	case r.cfg.Scenario == ScenarioConnectStorm:
	case u.sender:
		defer r.senders.Done()
		if !waitOrStop(ctx, r.startSend, r.runDone) {
			return
		}
		u.sendLoop(ctx)
	case u.churner:
		if waitOrStop(ctx, r.startChurn, r.runDone) {
			u.churnLoop(ctx)
		}
	case r.cfg.Scenario == ScenarioHistory:
		if waitOrStop(ctx, r.startMeasure, r.runDone) {
			u.historyLoop(ctx)
		}
	}
}

// waitOrStop waits for ch; it reports false if stop or ctx came first.
func waitOrStop(ctx context.Context, ch, stop <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-stop:
	case <-ctx.Done():
	}
	return false
}

// connect dials, registers and joins, recording the latencies; the read
// goroutine is running when it returns nil. rejoin marks a churn reconnect.
// In the connect storm it stops after registration: the storm measures
// registrations, and every JOIN would be announced to all members already
// in the channel, O(n²) lines that would swamp the figure.
func (u *user) connect(ctx context.Context, rejoin bool) error {
	r := u.run
	t0 := time.Now()
	c, err := dialConn(ctx, r.cfg, u.addr, u.transport(), u.tlsConfig(), u.nick, r.runID)
	if err != nil {
		r.fail("connect", err)
		return err
	}
	dl := t0.Add(r.cfg.ConnectTO)
	if r.hard.Before(dl) {
		dl = r.hard
	}
	c.nc.SetDeadline(dl)
	if err := c.register(r.cfg); err != nil {
		c.nc.Close()
		r.fail("register", err)
		return err
	}
	tReg := time.Now()
	c.rx = u.rx
	if r.cfg.Scenario == ScenarioConnectStorm {
		r.connectLat.AddDuration(tReg.Sub(t0))
	} else {
		replay, err := c.join(u.channel, u.rx.open)
		if err != nil {
			c.nc.Close()
			r.fail("join", err)
			return err
		}
		u.recordConnect(rejoin, tReg.Sub(t0), time.Since(tReg), replay)
		if rejoin && c.resumed() {
			r.resumed.Add(1)
		}
	}
	c.nc.SetDeadline(r.hard)
	u.conn, u.readDone = c, make(chan struct{})
	u.closing.Store(false)
	go u.read(ctx, c, u.readDone)
	return nil
}

// transport is "ws" or "tcp", how u connects.
func (u *user) transport() string {
	if u.ws {
		return "ws"
	}
	return "tcp"
}

// tlsConfig returns the TLS settings for u's connections; with
// --tls-resume each user keeps its own session, never another user's.
func (u *user) tlsConfig() *tls.Config {
	if u.tc == nil {
		u.tc = u.run.tc[u.addr]
		if u.run.cfg.TLSResume {
			u.tc = u.tc.Clone()
			u.tc.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		}
	}
	return u.tc
}

func (u *user) recordConnect(rejoin bool, reg, join time.Duration, replay int) {
	r := u.run
	if !rejoin {
		r.connectLat.AddDuration(reg)
		r.joinLat.AddDuration(join)
		return
	}
	r.rejoins.Add(1)
	r.replayTime.AddDuration(join)
	r.replayLines.Add(float64(replay))
}

// read runs the connection's read loop and records an unexpected end;
// with --reconnect it brings the user back and reads on.
func (u *user) read(ctx context.Context, c *conn, done chan struct{}) {
	defer close(done)
	for c != nil {
		err := c.readLoop()
		if u.closing.Load() {
			return
		}
		if u.rx.gap == nil {
			u.run.fail("disconnected", err)
			return
		}
		c = u.reconnect(ctx, err)
	}
}

// disconnect closes the connection, waits for its reader and closes the
// accounting window at ends.
func (u *user) disconnect(ends func(int) int64) {
	if u.conn == nil {
		return
	}
	u.sendMu.Lock()
	u.closing.Store(true)
	c := u.conn
	u.sendMu.Unlock()
	c.close()
	<-u.readDone
	u.rx.close(ends)
	u.conn = nil
}

// payload appends the PRIVMSG for sender s's message seq to b.
func (u *user) payload(b []byte, seq int64) []byte {
	b = append(b, "PRIVMSG "...)
	b = append(b, u.channel...)
	b = append(b, " :LT "...)
	b = append(b, u.run.runID...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(u.idx), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	return append(b, '\r', '\n')
}

// sendBatch numbers and writes n messages in one write. With --reconnect
// it refuses (errAway) while the user is away or its connection failed.
func (u *user) sendBatch(buf []byte, n int) ([]byte, error) {
	g := u.rx.gap
	if g != nil {
		u.sendMu.Lock()
		defer u.sendMu.Unlock()
		if u.away || u.conn == u.broken {
			return buf, errAway
		}
	}
	buf = buf[:0]
	for range n {
		buf = u.payload(buf, u.run.seq[u.idx].Add(1)-1)
	}
	if g == nil {
		return buf, u.conn.write(buf)
	}
	buf = g.ackPing(buf, u.run.seq[u.idx].Load())
	if err := u.conn.write(buf); err != nil {
		u.broken = u.conn
		u.conn.nc.Close() // so that its reader notices too
		return buf, errAway
	}
	return buf, nil
}

// sendLoop sends until stopSend: paced at the per-sender share of --rate,
// or, with --rate 0, as fast as the window of undelivered messages allows.
// It first sends its share of the --preload.
func (u *user) sendLoop(ctx context.Context) {
	r := u.run
	if r.cfg.Preload > 0 {
		u.preload(ctx)
	}
	if u.conn == nil {
		return
	}
	var err error
	for phase := streamPhase(u.idx, r.cfg.Rate); ; phase = 0 {
		if r.cfg.Rate > 0 {
			err = u.paced(ctx, r.cfg.Rate/float64(r.cfg.Senders), phase)
		} else {
			err = u.windowed(ctx, -1)
		}
		// Away, the sender stops; back, it starts afresh rather than
		// catching up on what it did not send.
		if !errors.Is(err, errAway) || !u.awaitBack(ctx) {
			break
		}
	}
	if err != nil && !errors.Is(err, errAway) {
		r.fail("send", err)
	}
}

// preload sends this sender's share of the preload quickly.
func (u *user) preload(ctx context.Context) {
	r := u.run
	defer r.preloaded.Done()
	if u.conn == nil {
		return
	}
	perChan := (r.cfg.Senders + r.cfg.Channels - 1 - u.idx%r.cfg.Channels) / r.cfg.Channels
	n := (r.cfg.Preload + perChan - 1) / max(perChan, 1)
	var buf []byte
	var err error
	for sent := 0; sent < n && ctx.Err() == nil && err == nil; sent += 10 {
		buf, err = u.sendBatch(buf, min(10, n-sent))
		sleep(ctx, 5*time.Millisecond)
	}
}

// streamPhase staggers sender (or churner) idx so that together they send
// (reconnect) in an evenly spaced stream at totalRate: started in step,
// they would all fire at the same instants and the server would see bursts
// followed by silence, which is not the fixed total rate asked for.
func streamPhase(idx int, totalRate float64) time.Duration {
	return time.Duration(float64(idx) / totalRate * float64(time.Second))
}

// paced sends rate messages per second, starting after phase and catching
// up after a late wake-up.
func (u *user) paced(ctx context.Context, rate float64, phase time.Duration) error {
	if !sleepOrStop(ctx, phase, u.run.stopSend) {
		return nil
	}
	start := time.Now()
	var buf []byte
	var sent int64
	for {
		due := int64(time.Since(start).Seconds()*rate) + 1
		if n := due - sent; n > 0 {
			var err error
			if buf, err = u.sendBatch(buf, int(min(n, 64))); err != nil {
				return err
			}
			sent += min(n, 64)
		}
		next := start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
		t := time.NewTimer(time.Until(next))
		select {
		case <-t.C:
		case <-u.run.stopSend:
			t.Stop()
			return nil
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// windowed sends as fast as the receivers take the messages: at most
// --window messages per sender may be undelivered to some receiver. A
// window that does not move for a second is counted as a stall and
// skipped, so a receiver the server cut off cannot halt the run.
func (u *user) windowed(ctx context.Context, limit int64) error {
	r := u.run
	recips := int64(r.members(u.idx%r.cfg.Channels) - 1)
	window := int64(r.cfg.Window)
	gate := &r.acked[u.idx]
	// A sender with a full window waits until a quarter of it is free, so
	// it wakes once per batch it can send rather than once per delivery.
	reopen := max(window/4, 1)
	var buf []byte
	lastMove, lastAcked := time.Now(), int64(-1)
	for ctx.Err() == nil {
		select {
		case <-r.stopSend:
			return nil
		default:
		}
		sent, acked := r.seq[u.idx].Load(), gate.n.Load()
		free := window
		if recips > 0 {
			free = window - (sent*recips-acked+recips-1)/recips
		}
		if acked != lastAcked {
			lastMove, lastAcked = time.Now(), acked
		}
		if wait := time.Second - time.Since(lastMove); free <= 0 && wait > 0 {
			// free reaches reopen once acked >= (sent-window+reopen)*recips.
			gate.waitFor((sent-window+reopen)*recips, wait, r.stopSend)
			continue
		}
		if free <= 0 {
			r.stalls.Add(1)
			lastMove, free = time.Now(), window
		}
		var err error
		if buf, err = u.sendBatch(buf, int(min(free, 16))); err != nil {
			return err
		}
	}
	return nil
}

// churnLoop makes the user leave and come back once every churn period
// until sending stops, like a phone on a flaky network. The schedule is
// fixed (leave at churnStart + phase + k*period, reconnect churnLead later)
// and the phases are staggered over the churners, so the server sees an
// even stream of --churn-rate reconnects a second rather than bursts, and a
// slow reconnect does not push the later ones back. Before leaving the user
// notes the senders' positions and keeps reading for churnSettle, so only
// messages sent before that point count as expected.
func (u *user) churnLoop(ctx context.Context) {
	r := u.run
	period := churnPeriod(r.cfg)
	leave := r.churnStart.Add(streamPhase(u.idx-(r.cfg.Users-r.churners), r.cfg.ChurnRate))
	for ; ; leave = leave.Add(period) {
		if !sleepOrStop(ctx, time.Until(leave), r.stopSend) {
			return
		}
		ends := make([]int64, len(r.seq))
		for s := range ends {
			ends[s] = r.seq[s].Load()
		}
		sleep(ctx, churnSettle)
		u.disconnect(func(s int) int64 { return ends[s] })
		if !sleepOrStop(ctx, time.Until(leave.Add(r.churnLead())), r.stopSend) {
			return
		}
		if err := u.connect(ctx, true); err != nil && ctx.Err() != nil {
			return
		}
	}
}

// sleepOrStop sleeps d; false if stop closed or ctx ended first.
func sleepOrStop(ctx context.Context, d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
	case <-ctx.Done():
	}
	return false
}

// historyLoop sends CHATHISTORY LATEST and BEFORE requests, one at a time,
// at this user's share of --history-rate, timing each until its batch ends.
func (u *user) historyLoop(ctx context.Context) {
	r := u.run
	if u.conn == nil {
		return
	}
	phase, gap := historyPace(r.cfg, u.idx)
	start := time.Now().Add(phase)
	for n := 0; ; n++ {
		if !sleepOrStop(ctx, time.Until(start.Add(time.Duration(n)*gap)), r.stopSend) {
			return
		}
		if err := u.historyRequest(ctx, n%2 == 0, start); err != nil {
			r.histFailed.Add(1)
			r.fail("history", err)
		}
	}
}

// historyPace returns when history user idx sends its first request and
// the gap between its requests. The users' first requests are spread over
// one gap, so the server sees an even stream of --history-rate requests a
// second, not all users' requests at once (which queued 95 reads behind
// each other and measured the queue: p50 11-14 ms instead of ~1 ms).
func historyPace(cfg *Config, idx int) (phase, gap time.Duration) {
	if cfg.HistoryRate <= 0 {
		return 0, 0 // closed loop: back to back
	}
	clients := cfg.Users - cfg.Senders
	gap = time.Duration(float64(clients) / cfg.HistoryRate * float64(time.Second))
	return streamPhase(idx-cfg.Senders, cfg.HistoryRate), gap
}

// historyRequest sends one CHATHISTORY request and waits for its batch.
func (u *user) historyRequest(ctx context.Context, latest bool, since time.Time) error {
	r, c := u.run, u.conn
	select { // a late result of an earlier, timed-out request
	case <-c.batchDone:
	default:
	}
	limit := strconv.Itoa(r.cfg.HistoryLimit)
	line := "CHATHISTORY LATEST " + u.channel + " * " + limit
	if !latest {
		at := time.Now().Add(-rand.N(time.Since(since) + time.Second)).UTC()
		line = "CHATHISTORY BEFORE " + u.channel + " timestamp=" + at.Format("2006-01-02T15:04:05.000Z") + " " + limit
	}
	t0 := time.Now()
	if err := c.send(line); err != nil {
		return err
	}
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case res := <-c.batchDone:
		if res.err != nil {
			return res.err
		}
		r.histLat.AddDuration(time.Since(t0))
		r.histLines.Add(float64(res.lines))
		return nil
	case <-t.C:
		return errHistoryTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}
