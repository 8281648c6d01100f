package load

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runner holds the state of one load run. Its fields are set up before any
// user goroutine starts; afterwards only the atomics, the Samples and the
// closed channels are shared.
type runner struct {
	cfg      *Config
	tc       map[string]*tls.Config // by address dialled
	runID    string
	channels []string
	users    []*user
	hard     time.Time // every connection's deadline: the run ends by then

	seq   []counter    // next sequence number per sender
	acked []ackGate    // fresh deliveries per sender (maxrate flow control)
	phase atomic.Int32 // a phase: the histogram live latency goes to

	churners   int       // the users with the highest indices churn
	churnStart time.Time // the churn schedule's origin, set before startChurn closes

	startSend    chan struct{}  // closed: senders start (preload, then steady)
	startChurn   chan struct{}  // closed: baseline over; churners start leaving
	startMeasure chan struct{}  // closed: measured window; history clients start
	stopSend     chan struct{}  // closed: senders, churners, history stop
	runDone      chan struct{}  // closed: users disconnect
	preloaded    sync.WaitGroup // senders done with the --preload
	senders      sync.WaitGroup // sending goroutines still running

	connected               atomic.Int64
	connectLat, joinLat     Samples
	rejoins                 atomic.Int64 // churn reconnects completed
	resumed                 atomic.Int64 // of them, TLS session resumptions
	measuredRejoins         int64        // rejoins during the measured window
	replayLines, replayTime Samples
	histLat, histLines      Samples
	histFailed              atomic.Int64
	stalls                  atomic.Int64 // maxrate: window waits that timed out
	rc                      *reconnects  // --reconnect only

	errMu     sync.Mutex
	errCount  map[string]int // error kind -> count
	firstErrs []string
}

// newRunner lays out users, channels and senders for cfg.
func newRunner(cfg *Config, now time.Time) *runner {
	runID := cfg.RunID
	if runID == "" {
		id := make([]byte, 3)
		_, _ = rand.Read(id)
		runID = hex.EncodeToString(id)
	}
	r := &runner{
		cfg: cfg, tc: map[string]*tls.Config{}, runID: runID,
		seq: make([]counter, cfg.Senders), acked: newAckGates(cfg.Senders),
		churners:  churnerCount(cfg),
		startSend: make(chan struct{}), startChurn: make(chan struct{}), startMeasure: make(chan struct{}),
		stopSend: make(chan struct{}), runDone: make(chan struct{}),
		errCount: map[string]int{},
	}
	if cfg.Reconnect {
		r.rc = newReconnects()
	}
	r.hard = now.Add(cfg.ConnectTO + cfg.Warmup + cfg.Baseline + r.churnLead() + cfg.Duration + cfg.Drain + 30*time.Second)
	for k := range cfg.Channels {
		r.channels = append(r.channels, fmt.Sprintf("#load-%s-%d", r.runID, k))
	}
	for i := range cfg.Users {
		u := r.newUser(i)
		if r.tc[u.addr] == nil {
			r.tc[u.addr] = cfg.tlsConfig(u.addr)
		}
		r.users = append(r.users, u)
	}
	return r
}

// newUser places user i: channel i mod K, address nodeOf(i); users below
// --senders send; churners are taken from the highest indices.
func (r *runner) newUser(i int) *user {
	k := i % r.cfg.Channels
	var senders []int
	for s := k; s < r.cfg.Senders; s += r.cfg.Channels {
		if s != i {
			senders = append(senders, s)
		}
	}
	u := &user{
		run: r, idx: i, channel: r.channels[k], node: r.nodeOf(i),
		nick:    fmt.Sprintf("%s-%s-%d", r.cfg.NickPrefix, r.runID, i),
		sender:  i < r.cfg.Senders,
		churner: i >= r.cfg.Users-r.churners,
		// Mixed: a channel's members (i/K is the place in channel i mod K)
		// alternate, and so do its senders.
		ws: r.cfg.Transport == "ws" || r.cfg.Transport == "mixed" && i/r.cfg.Channels%2 == 1,
		rx: &receiver{
			tr: NewTracker(r.cfg.Senders, senders), senders: senders,
			seq: r.seq, acked: r.acked, flow: r.cfg.Rate == 0, phase: &r.phase,
		},
	}
	u.addr = r.cfg.dialAddr(u.node, u.transport())
	if r.rc != nil {
		u.rx.gap = &gapState{rc: r.rc, self: i, ownMax: -1, at: u.node}
		u.rx.tr.EnableMerge(r.rc.voidsOf)
	}
	if len(r.cfg.Addrs) > 1 {
		u.rx.tr.SetCrossNode(func(s int) bool { return r.nodeOf(s) != u.node })
	}
	return u
}

// nodeOf returns the index in --addr of user i's server.
func (r *runner) nodeOf(i int) int { return nodeOf(i, r.cfg.Channels, len(r.cfg.Addrs)) }

// members returns how many users are in channel k.
func (r *runner) members(k int) int {
	n := r.cfg.Users / r.cfg.Channels
	if k < r.cfg.Users%r.cfg.Channels {
		n++
	}
	return n
}

// fail records an error by kind; the first few are kept verbatim.
func (r *runner) fail(kind string, err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.errCount[kind]++
	if len(r.firstErrs) < 5 {
		r.firstErrs = append(r.firstErrs, kind+": "+err.Error())
	}
}

func (r *runner) errorCounts() (map[string]int, []string, int) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	total := 0
	for _, n := range r.errCount {
		total += n
	}
	return maps.Clone(r.errCount), slices.Clone(r.firstErrs), total
}

// sent returns the number of messages senders have numbered so far.
func (r *runner) sent() int64 {
	var n int64
	for i := range r.seq {
		n += r.seq[i].Load()
	}
	return n
}

// delivered returns fresh deliveries counted by all receivers so far.
func (r *runner) delivered() int64 {
	var n int64
	for _, u := range r.users {
		n += u.rx.total.Load()
	}
	return n
}

// finalSeq returns sender s's next sequence number; after the senders have
// stopped it is the end of every receiver's window.
func (r *runner) finalSeq(s int) int64 { return r.seq[s].Load() }

// sleep waits d or until ctx ends, reporting whether the full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Run executes one load run and returns its result. Progress lines go to
// progress (nil: none); live rewrites a single terminal line. It returns
// early, with what it has, when ctx ends, and by itself ends by the hard
// deadline (connect timeout + warmup + duration + drain + 30 s) whatever
// the server does.
func Run(ctx context.Context, cfg Config, progress io.Writer, live bool) (*Result, error) {
	start := time.Now()
	r := newRunner(&cfg, start)
	ctx, cancel := context.WithDeadline(ctx, r.hard)
	defer cancel()
	res := &Result{Scenario: cfg.Scenario, RunID: r.runID, Addr: strings.Join(cfg.targets(), ","), Transport: cfg.Transport, Users: cfg.Users,
		Channels: cfg.Channels, Senders: cfg.Senders, Rate: cfg.Rate, Auth: cfg.Auth, TLS: cfg.TLS}
	stopProgress := r.startProgress(progress, live, start)
	defer stopProgress()

	mem := r.readRSS()
	var usersWG sync.WaitGroup
	connectDur := r.connectAll(ctx, &usersWG)
	res.Connect = r.connectResult(connectDur)
	res.Nodes = r.nodeResults()
	if cfg.ServerPID > 0 {
		sleep(ctx, time.Second) // let the server settle before reading RSS
		res.Memory = r.memoryResult(mem, r.readRSS())
	}
	if r.connected.Load() == 0 {
		close(r.runDone)
		usersWG.Wait()
		r.finish(res)
		return res, errors.New("no user could connect")
	}
	if cfg.Scenario != ScenarioConnectStorm {
		r.traffic(ctx, res)
	}
	var audit *conn
	if r.rc != nil {
		audit = r.startAudit(ctx)
	}
	close(r.runDone)
	usersWG.Wait()
	r.finish(res)
	if r.rc != nil {
		r.finishAudit(audit, res.Reconnect, start.Add(-time.Second))
	}
	return res, nil
}

// churnLead is the time from a churner's leave to its reconnect. The
// churners start leaving that long before the measured window, so that
// reconnects arrive at the full rate from its first instant to its last.
func (r *runner) churnLead() time.Duration {
	if r.churners == 0 {
		return 0
	}
	return churnSettle + r.cfg.ChurnOffline
}

// traffic runs the sending phase: preload, warmup, the churn baseline,
// measurement, drain, with the server's metrics scraped around it.
func (r *runner) traffic(ctx context.Context, res *Result) {
	before := r.scrape(ctx)
	close(r.startSend)
	if r.cfg.Preload > 0 {
		r.waitPreload(ctx)
	}
	sleep(ctx, r.cfg.Warmup)
	if r.cfg.Baseline > 0 {
		r.phase.Store(int32(phaseBaseline))
		sleep(ctx, r.cfg.Baseline)
		r.phase.Store(int32(phaseIdle))
	}
	r.churnStart = time.Now()
	close(r.startChurn)
	sleep(ctx, r.churnLead())
	sent0, del0, rej0, t0 := r.sent(), r.delivered(), r.rejoins.Load(), time.Now()
	r.phase.Store(int32(phaseMain))
	close(r.startMeasure)
	sleep(ctx, r.cfg.Duration)
	r.phase.Store(int32(phaseIdle))
	sent1, del1, rej1, t1 := r.sent(), r.delivered(), r.rejoins.Load(), time.Now()
	r.measuredRejoins = rej1 - rej0
	close(r.stopSend)
	r.senders.Wait()
	res.DrainSeconds = r.drain(ctx).Seconds()
	after := r.scrape(ctx)
	secs := t1.Sub(t0).Seconds()
	res.MeasuredSeconds = secs
	res.SendRate = float64(sent1-sent0) / secs
	res.DeliveryRate = float64(del1-del0) / secs
	res.Server = serverResult(before, after)
}

// waitPreload waits (bounded by ctx) until the senders have put the
// preload into every channel.
func (r *runner) waitPreload(ctx context.Context) {
	done := make(chan struct{})
	go func() { r.preloaded.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// drain waits until every joined receiver has what was sent to it, or
// --drain has passed, and returns how long it took.
func (r *runner) drain(ctx context.Context) time.Duration {
	start := time.Now()
	deadline := start.Add(r.cfg.Drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pending := false
		for _, u := range r.users {
			if u.rx.outstanding(r.finalSeq) > 0 {
				pending = true
				break
			}
		}
		if !pending {
			break
		}
		sleep(ctx, 20*time.Millisecond)
	}
	return time.Since(start)
}
