package load

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
)

// Main is the whole securechat-load program: it parses args, runs the
// scenario and prints the summary and the JSON line to stdout. It returns
// the process exit code: 0 when the run completed (read the result for
// loss and errors), 1 when no user could connect, 2 for bad usage.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := ParseArgs(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "securechat-load: %v\n", err)
		return 2
	}
	var progress io.Writer
	if !cfg.JSONOnly {
		progress = stderr
	}
	res, runErr := Run(ctx, cfg, progress, isTerminal(stderr))
	if !cfg.JSONOnly {
		WriteSummary(stdout, res)
	}
	if err := WriteJSON(stdout, res); err != nil {
		fmt.Fprintf(stderr, "securechat-load: %v\n", err)
		return 1
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "securechat-load: %v\n", runErr)
		return 1
	}
	return 0
}

// isTerminal reports whether w is a character device, where a progress
// line can be rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// WriteSummary prints the human-readable report.
func WriteSummary(w io.Writer, res *Result) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("securechat-load %s run %s against %s (%s, tls=%v, auth=%s): %d users, %d channels, %d senders, rate %s",
		res.Scenario, res.RunID, res.Addr, res.Transport, res.TLS, res.Auth, res.Users, res.Channels, res.Senders, rateText(res.Rate))
	c := res.Connect
	join := "; no join (registration only)"
	if c.JoinMS != nil {
		join = "; join " + distText(*c.JoinMS, "ms")
	}
	p("connect   %d/%d ok in %.2fs (%.0f registrations/s); register %s%s",
		c.OK, c.Attempted, c.Seconds, c.PerSecond, distText(c.RegisterMS, "ms"), join)
	writeNodes(p, res)
	if m := res.Messages; m != nil {
		p("traffic   %.1fs measured: %.0f msg/s sent, %.0f deliveries/s; drain %.2fs",
			res.MeasuredSeconds, res.SendRate, res.DeliveryRate, res.DrainSeconds)
		p("delivery  expected %d received %d lost %d (%.4f%%) duplicates %d reordered %d (stale %d, late %d, foreign %d)",
			m.Expected, m.Received, m.Lost, pct(m.Lost, m.Expected), m.Duplicates, m.Reordered, m.Stale, m.Late, m.Foreign)
	}
	if l := res.LatencyMS; l != nil {
		p("latency   end to end %s", distText(*l, "ms"))
	}
	for _, t := range slices.Sorted(maps.Keys(res.ByTransport)) {
		tr := res.ByTransport[t]
		p("  %-4s    %d users: %s", t, tr.Users, deliveryText(tr.DeliveryResult))
	}
	if res.SameNode != nil && res.CrossNode != nil {
		p("  same node:  %s", deliveryText(*res.SameNode))
		p("  cross node: %s", deliveryText(*res.CrossNode))
	}
	if res.Stalls > 0 {
		p("stalls    %d send windows did not move for 1s", res.Stalls)
	}
	writeSections(p, res)
}

// writeNodes prints each address's users and connections, when there are
// several.
func writeNodes(p func(string, ...any), res *Result) {
	if len(res.Nodes) == 0 {
		return
	}
	p("nodes     %d addresses; user i on address (i/channels + i mod channels) mod %d", len(res.Nodes), len(res.Nodes))
	for i, n := range res.Nodes {
		addr := n.Addr
		if n.WebAddr != "" {
			addr += " (web " + n.WebAddr + ")"
		}
		line := fmt.Sprintf("  [%d] %s: %d users (%d senders), connected %d failed %d", i, addr, n.Users, n.Senders, n.Connected, n.Failed)
		if n.FirstError != "" {
			line += "; first error: " + n.FirstError
		}
		p("%s", line)
	}
}

// deliveryText renders a subset of the deliveries: counts and latency.
func deliveryText(d DeliveryResult) string {
	m := d.Messages
	return fmt.Sprintf("received %d lost %d duplicates %d reordered %d; latency %s",
		m.Received, m.Lost, m.Duplicates, m.Reordered, distText(d.LatencyMS, "ms"))
}

// writeSections prints the optional parts of the summary.
func writeSections(p func(string, ...any), res *Result) {
	if ch := res.Churn; ch != nil {
		writeChurn(p, ch)
	}
	if h := res.History; h != nil {
		p("history   %d requests, %d failed; latency %s; lines %s", h.Requests, h.Failed, distText(h.LatencyMS, "ms"), distText(h.Lines, ""))
	}
	if rc := res.Reconnect; rc != nil {
		writeReconnect(p, rc)
	}
	if m := res.Memory; m != nil {
		p("memory    server RSS %d kB -> %d kB over %d conns: %.1f kB/conn %s", m.RSSBeforeKB, m.RSSAfterKB, m.Conns, m.PerConnKB, m.Error)
	}
	if s := res.Server; s != nil {
		writeServer(p, s)
	}
	e := res.Errors
	p("errors    %d %v", e.Total, e.ByKind)
	for _, f := range e.First {
		p("          %s", f)
	}
}

func writeChurn(p func(string, ...any), ch *ChurnResult) {
	p("churn     %d churners, each every %.2fs: %d rejoins in the measured window, %.1f/s (asked %g/s); %d in all, %d resuming TLS",
		ch.Churners, ch.PeriodSeconds, ch.MeasuredRejoins, ch.ReconnectsPerSecond, ch.Rate, ch.Rejoins, ch.TLSResumed)
	p("replay    lines %s; complete %s", distText(ch.ReplayLines, ""), distText(ch.ReplayMS, "ms"))
	if ch.LiveBaselineMS == nil {
		p("live      with churn %s; no baseline (--baseline 0)", distText(ch.LiveChurnMS, "ms"))
		return
	}
	p("live      baseline (%.1fs, no churn) %s", ch.BaselineSeconds, distText(*ch.LiveBaselineMS, "ms"))
	p("live      with churn %s; p99 %+.2fms", distText(ch.LiveChurnMS, "ms"), *ch.LiveP99DeltaMS)
}

func writeServer(p func(string, ...any), s *ServerResult) {
	if s.Error != "" {
		p("server    metrics: %s", s.Error)
		return
	}
	p("server    over %.1fs: CPU %.1f%%, %.2f µs CPU per delivery (%s count)", s.Seconds, s.CPUPercent, s.CPUUsPerDelivery, s.DeliveriesCounted)
	names := make([]string, 0, len(s.Deltas))
	for n := range s.Deltas {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p("          %-50s %+.6g", n, s.Deltas[n])
	}
}

func rateText(r float64) string {
	if r == 0 {
		return "max"
	}
	return fmt.Sprintf("%g/s", r)
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// distText renders a distribution as "p50 1.2 p90 … max …unit (n=…)".
func distText(d Dist, unit string) string {
	if d.Count == 0 {
		return "(none)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "p50 %.2f%s p90 %.2f%s p99 %.2f%s max %.2f%s (n=%d)", d.P50, unit, d.P90, unit, d.P99, unit, d.Max, unit, d.Count)
	return b.String()
}

// writeReconnect prints the --reconnect section.
func writeReconnect(p func(string, ...any), rc *ReconnectResult) {
	p("reconnect %d drops, %d back and replayed, %d never back (%d alternate nicks, %d failed attempts, %d history requests); back %s",
		rc.Drops, rc.Reconnections, rc.NeverBack, rc.AltNicks, rc.FailedAttempts, rc.HistoryRequests, distText(rc.BackMS, "ms"))
	p("  messages recovered from history %d, lost %d, live duplicates %d; unconfirmed sends %d (of which seen live, not in history: %d)",
		rc.Recovered, rc.Lost, rc.LiveDuplicates, rc.Unconfirmed, rc.Unstored)
	p("  lost to users that dropped %d; lost messages %d: in history at the end %d (%d of them out of reach of AFTER paging), absent from history %d (%d sent by users that never dropped)%s",
		rc.LostByDropped, rc.LostMessages, rc.LostInHistory, rc.SkippedByAfter, rc.AbsentFromHistory, rc.AbsentSenderStayed, auditText(rc.AuditError))
	if len(rc.AbsentSample) > 0 {
		p("  absent from history, e.g.: %s", strings.Join(rc.AbsentSample, "; "))
	}
	p("  %d outages, %.2fs in all; first drop to last recovery %.2fs", rc.Outages, rc.OutageSeconds, rc.WindowSeconds)
	p("  live outside outages: %s", distText(rc.OutsideMS, "ms"))
	p("  live in outages, users not dropped: %s (p99 %.2fx outside)", distText(rc.OthersInOutageMS, "ms"), rc.P99Ratio)
	p("  live in outages, users dropped in them: %s", distText(rc.DroppedInOutageMS, "ms"))
	if rc.FirstDrop != "" {
		p("  first drop: %s", rc.FirstDrop)
	}
	if rc.FirstFailure != "" {
		p("  first failed attempt: %s", rc.FirstFailure)
	}
}

func auditText(err string) string {
	if err == "" {
		return ""
	}
	return " (audit failed: " + err + ")"
}
