package load

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Result is the outcome of one run; its JSON form is the machine-readable
// line printed at the end. Optional sections are omitted when the scenario
// does not produce them.
type Result struct {
	Scenario string `json:"scenario"`
	RunID    string `json:"run_id"`
	Addr     string `json:"addr"` // the addresses dialled, comma-separated (Nodes)
	Auth     string `json:"auth"`
	TLS      bool   `json:"tls"`
	// Transport is tcp or ws (IRC over WebSocket).
	Transport string  `json:"transport"`
	Users     int     `json:"users"`
	Channels  int     `json:"channels"`
	Senders   int     `json:"senders"`
	Rate      float64 `json:"rate"` // requested total msg/s; 0: as fast as possible

	MeasuredSeconds float64 `json:"measured_seconds,omitempty"`
	DrainSeconds    float64 `json:"drain_seconds,omitempty"`
	SendRate        float64 `json:"send_rate,omitempty"`     // messages/s sent while measuring
	DeliveryRate    float64 `json:"delivery_rate,omitempty"` // deliveries/s while measuring

	Connect   ConnectResult    `json:"connect"`
	Messages  *Counts          `json:"messages,omitempty"`
	LatencyMS *Dist            `json:"latency_ms,omitempty"` // end to end, measured window only
	Stalls    int64            `json:"window_stalls,omitempty"`
	Churn     *ChurnResult     `json:"churn,omitempty"`
	History   *HistoryResult   `json:"history,omitempty"`
	Reconnect *ReconnectResult `json:"reconnect,omitempty"`
	Memory    *MemoryResult    `json:"memory,omitempty"`
	Server    *ServerResult    `json:"server,omitempty"`
	Errors    ErrorResult      `json:"errors"`
	// ByTransport splits deliveries and latency by the receiving user's
	// transport (tcp, ws); only with --transport mixed.
	ByTransport map[string]*TransportResult `json:"by_transport,omitempty"`
	// Nodes describes each address of --addr, in its order; SameNode and
	// CrossNode split the deliveries by whether sender and receiver were
	// on the same address. All three only when --addr lists several.
	Nodes     []NodeResult    `json:"nodes,omitempty"`
	SameNode  *DeliveryResult `json:"same_node,omitempty"`
	CrossNode *DeliveryResult `json:"cross_node,omitempty"`
}

// DeliveryResult is the accounting of a subset of the deliveries.
type DeliveryResult struct {
	Messages  *Counts `json:"messages"`
	LatencyMS Dist    `json:"latency_ms"` // end to end, measured window only
}

// TransportResult is what the users of one transport received.
type TransportResult struct {
	Users int `json:"users"`
	DeliveryResult
}

// NodeResult is one server address's share of the users and how their
// first connections went, so that a node refusing them stands out.
type NodeResult struct {
	Addr       string `json:"addr"`
	WebAddr    string `json:"web_addr,omitempty"` // --transport ws, mixed
	Users      int    `json:"users"`
	Senders    int    `json:"senders"`
	Connected  int    `json:"connected"`
	Failed     int    `json:"failed"`
	FirstError string `json:"first_error,omitempty"`
}

// MarshalJSON of Counts uses snake_case names.
func (c Counts) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]int64{
		"expected": c.Expected, "received": c.Received, "lost": c.Lost,
		"duplicates": c.Duplicates, "reordered": c.Reordered, "stale": c.Stale,
		"late": c.Late, "foreign": c.Foreign,
		"recovered": c.Recovered, "unconfirmed": c.Unconfirmed, "unstored": c.Unstored,
	})
}

// ConnectResult describes the initial connections.
type ConnectResult struct {
	Attempted  int     `json:"attempted"`
	OK         int     `json:"ok"`
	Failed     int     `json:"failed"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"per_second"`  // successful registrations per second
	RegisterMS Dist    `json:"register_ms"` // dial to end of MOTD
	// JoinMS is JOIN to end of NAMES and replay; absent in the connect
	// storm, which does not join.
	JoinMS *Dist `json:"join_ms,omitempty"`
}

// ChurnResult describes the reconnects of churning users and what they do
// to live fan-out.
type ChurnResult struct {
	Churners      int     `json:"churners"`
	Rate          float64 `json:"rate"`           // requested reconnects/s over all churners
	PeriodSeconds float64 `json:"period_seconds"` // each churner reconnects this often
	Rejoins       int64   `json:"rejoins"`        // over the whole run
	TLSResumed    int64   `json:"tls_resumed"`    // rejoins that resumed their TLS session
	// MeasuredRejoins completed in the measured window; ReconnectsPerSecond
	// is them per second of it, the rate achieved.
	MeasuredRejoins     int64   `json:"measured_rejoins"`
	ReconnectsPerSecond float64 `json:"reconnects_per_second"`
	ReplayLines         Dist    `json:"replay_lines"` // replayed messages per rejoin
	ReplayMS            Dist    `json:"replay_ms"`    // JOIN until replay and NAMES complete
	// Live end-to-end latency of ordinary deliveries: in the --baseline
	// window (churners connected and idle) and in the measured window with
	// churn (the same as the top-level latency_ms). The baseline and the
	// p99 difference are absent with --baseline 0.
	BaselineSeconds float64  `json:"baseline_seconds"`
	LiveBaselineMS  *Dist    `json:"live_baseline_ms,omitempty"`
	LiveChurnMS     Dist     `json:"live_churn_ms"`
	LiveP99DeltaMS  *float64 `json:"live_p99_delta_ms,omitempty"` // churn p99 minus baseline p99
}

// HistoryResult describes the CHATHISTORY requests.
type HistoryResult struct {
	Requests  int   `json:"requests"`
	Failed    int64 `json:"failed"`
	LatencyMS Dist  `json:"latency_ms"`
	Lines     Dist  `json:"lines"`
}

// MemoryResult is the server's resident memory before and after the users
// connected, from /proc/PID/status.
type MemoryResult struct {
	RSSBeforeKB int64   `json:"rss_before_kb"`
	RSSAfterKB  int64   `json:"rss_after_kb"`
	Conns       int     `json:"conns"`
	PerConnKB   float64 `json:"per_conn_kb"`
	Error       string  `json:"error,omitempty"`
}

// ServerResult holds deltas of the server's metrics over the traffic phase.
type ServerResult struct {
	Seconds           float64            `json:"seconds"`
	Deltas            map[string]float64 `json:"deltas"`
	CPUPercent        float64            `json:"cpu_percent,omitempty"`
	CPUUsPerDelivery  float64            `json:"cpu_us_per_delivery,omitempty"`
	DeliveriesCounted string             `json:"deliveries_source,omitempty"`
	Error             string             `json:"error,omitempty"`
}

// ErrorResult counts errors by kind, with the first few messages.
type ErrorResult struct {
	Total  int            `json:"total"`
	ByKind map[string]int `json:"by_kind,omitempty"`
	First  []string       `json:"first,omitempty"`
}

// connectResult summarises the connect phase.
func (r *runner) connectResult(d time.Duration) ConnectResult {
	ok := int(r.connected.Load())
	c := ConnectResult{Attempted: len(r.users), OK: ok, Failed: len(r.users) - ok, Seconds: d.Seconds(),
		RegisterMS: r.connectLat.Summary()}
	if r.cfg.Scenario != ScenarioConnectStorm {
		j := r.joinLat.Summary()
		c.JoinMS = &j
	}
	if d > 0 {
		c.PerSecond = float64(ok) / d.Seconds()
	}
	return c
}

// finish fills the sections computed from all users after they stopped.
func (r *runner) finish(res *Result) {
	byKind, first, total := r.errorCounts()
	res.Errors = ErrorResult{Total: total, ByKind: byKind, First: first}
	if r.cfg.Scenario == ScenarioConnectStorm {
		return
	}
	var counts Counts
	var lat, base Histogram
	for _, u := range r.users {
		counts.Add(u.rx.tr.Totals())
		lat.Merge(u.rx.tr.Latency())
		base.Merge(u.rx.tr.BaselineLatency())
	}
	res.Messages = &counts
	if r.cfg.Transport == "mixed" {
		res.ByTransport = r.byTransport()
	}
	if len(r.cfg.Addrs) > 1 {
		res.SameNode, res.CrossNode = r.byPath(sameNode), r.byPath(crossNode)
	}
	d := HistDist(&lat)
	res.LatencyMS = &d
	res.Stalls = r.stalls.Load()
	if r.rc != nil {
		res.Reconnect = r.reconnectResult(&counts)
	}
	switch r.cfg.Scenario {
	case ScenarioChurn:
		res.Churn = r.churnResult(d, HistDist(&base), res.MeasuredSeconds)
	case ScenarioHistory:
		l := r.histLat.Summary()
		res.History = &HistoryResult{Requests: l.Count + int(r.histFailed.Load()), Failed: r.histFailed.Load(),
			LatencyMS: l, Lines: r.histLines.Summary()}
	}
}

// byTransport splits the receivers' accounts by their transport.
func (r *runner) byTransport() map[string]*TransportResult {
	out := map[string]*TransportResult{}
	hists := map[string]*Histogram{}
	for _, u := range r.users {
		t := u.transport()
		tr := out[t]
		if tr == nil {
			tr, hists[t] = &TransportResult{DeliveryResult: DeliveryResult{Messages: &Counts{}}}, &Histogram{}
			out[t] = tr
		}
		tr.Users++
		tr.Messages.Add(u.rx.tr.Totals())
		hists[t].Merge(u.rx.tr.Latency())
	}
	for t, tr := range out {
		tr.LatencyMS = HistDist(hists[t])
	}
	return out
}

// churnResult summarises the reconnects, given the live latency of the
// measured window and of the baseline window.
func (r *runner) churnResult(live, base Dist, measured float64) *ChurnResult {
	c := &ChurnResult{
		Churners: r.churners, Rate: r.cfg.ChurnRate, PeriodSeconds: churnPeriod(r.cfg).Seconds(),
		Rejoins: r.rejoins.Load(), TLSResumed: r.resumed.Load(), MeasuredRejoins: r.measuredRejoins,
		ReplayLines: r.replayLines.Summary(), ReplayMS: r.replayTime.Summary(),
		BaselineSeconds: r.cfg.Baseline.Seconds(), LiveChurnMS: live,
	}
	if measured > 0 {
		c.ReconnectsPerSecond = float64(c.MeasuredRejoins) / measured
	}
	if r.cfg.Baseline > 0 {
		delta := live.P99 - base.P99
		c.LiveBaselineMS, c.LiveP99DeltaMS = &base, &delta
	}
	return c
}

// startProgress prints a progress line every second until the returned
// function is called. live rewrites one terminal line instead of adding
// lines.
func (r *runner) startProgress(w io.Writer, live bool, start time.Time) func() {
	if w == nil {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastSent, lastDel int64
		for {
			select {
			case <-stop:
				if live {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-t.C:
			}
			sent, del := r.sent(), r.delivered()
			_, _, errs := r.errorCounts()
			line := fmt.Sprintf("%6.1fs  conn %d/%d  sent %d (%d/s)  delivered %d (%d/s)  errors %d",
				time.Since(start).Seconds(), r.connected.Load(), len(r.users), sent, sent-lastSent, del, del-lastDel, errs)
			if r.churners > 0 {
				line += fmt.Sprintf("  rejoins %d", r.rejoins.Load())
			}
			if r.rc != nil {
				d, b := r.rc.drops.Load(), r.rc.back.Load()
				line += fmt.Sprintf("  drops %d away %d", d, d-b)
			}
			lastSent, lastDel = sent, del
			if live {
				fmt.Fprint(w, "\r\033[K"+line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}()
	return func() { close(stop); <-done }
}

// readRSS returns the server's VmRSS in kB, or -1 without --server-pid.
func (r *runner) readRSS() int64 {
	if r.cfg.ServerPID <= 0 {
		return -1
	}
	kb, err := ReadRSS(fmt.Sprintf("/proc/%d/status", r.cfg.ServerPID))
	if err != nil {
		r.fail("rss", err)
		return -1
	}
	return kb
}

// ReadRSS returns the VmRSS line of a /proc/PID/status file in kB.
func ReadRSS(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("read rss: no VmRSS in %s", path)
}

func (r *runner) memoryResult(before, after int64) *MemoryResult {
	m := &MemoryResult{RSSBeforeKB: before, RSSAfterKB: after, Conns: int(r.connected.Load())}
	if before < 0 || after < 0 {
		m.Error = "could not read VmRSS"
		return m
	}
	if m.Conns > 0 {
		m.PerConnKB = float64(after-before) / float64(m.Conns)
	}
	return m
}

// scrapeResult is one reading of the server's /metrics, summed per name
// over all label sets.
type scrapeResult struct {
	at     time.Time
	values map[string]float64
	ourDel int64 // our delivered() at the time, for CPU per delivery
	err    error
}

// scrape reads --metrics-url; nil without it.
func (r *runner) scrape(ctx context.Context) *scrapeResult {
	if r.cfg.MetricsURL == "" {
		return nil
	}
	s := &scrapeResult{at: time.Now(), ourDel: r.delivered()}
	s.values, s.err = Scrape(ctx, r.cfg.MetricsURL, r.cfg.MetricsToken)
	return s
}

// Scrape fetches a Prometheus text exposition and sums samples by name.
func Scrape(ctx context.Context, url, token string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return ParseMetrics(resp.Body)
}

// ParseMetrics reads Prometheus text format ("name{labels} value [ts]")
// and returns the sum of the samples of each name. Comments and malformed
// lines are skipped.
func ParseMetrics(rd io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			// Label values may hold spaces or braces; the label set ends at
			// the last '}'.
			j := strings.LastIndexByte(rest, '}')
			if j < 0 {
				continue
			}
			rest = rest[j+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			out[name] += v
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("parse metrics: %w", err)
	}
	return out, nil
}

// keyMetrics are always reported when the server exposes them.
var keyMetrics = []string{
	"securechat_fanout_deliveries_total",
	"securechat_messages_received_total",
	"securechat_sendq_drops_total",
	"securechat_write_queue_drops_total",
	"process_cpu_seconds_total",
}

// serverResult computes the deltas between two scrapes: the key metrics,
// plus every other securechat_*_total that changed.
func serverResult(before, after *scrapeResult) *ServerResult {
	if before == nil || after == nil {
		return nil
	}
	res := &ServerResult{Seconds: after.at.Sub(before.at).Seconds(), Deltas: map[string]float64{}}
	if err := cmpErr(before.err, after.err); err != nil {
		res.Error = err.Error()
		return res
	}
	for name, v := range after.values {
		d := v - before.values[name]
		if slices.Contains(keyMetrics, name) || (strings.HasPrefix(name, "securechat_") && strings.HasSuffix(name, "_total") && d != 0) {
			res.Deltas[name] = d
		}
	}
	cpu, ok := res.Deltas["process_cpu_seconds_total"]
	if !ok || res.Seconds <= 0 {
		return res
	}
	res.CPUPercent = 100 * cpu / res.Seconds
	deliveries, src := res.Deltas["securechat_fanout_deliveries_total"], "server"
	if deliveries <= 0 {
		deliveries, src = float64(after.ourDel-before.ourDel), "load"
	}
	if deliveries > 0 {
		res.CPUUsPerDelivery = cpu * 1e6 / deliveries
		res.DeliveriesCounted = src
	}
	return res
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// WriteJSON writes res as one JSON line.
func WriteJSON(w io.Writer, res *Result) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
