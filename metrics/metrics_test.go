package metrics

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// wantFamilies is the contract with ircd, the dashboard and the alerts: every
// securechat family New registers, and the label names each may carry.
func wantFamilies() map[string][]string {
	return map[string][]string{
		"securechat_build_info":                {"goversion", "version"},
		"securechat_clients_connected":         {"listener"},
		"securechat_registrations_total":       {"result"},
		"securechat_auth_failures_total":       {"mechanism"},
		"securechat_refused_connections_total": {"reason"},
		"securechat_messages_received_total":   {"command"},
		"securechat_messages_sent_total":       {"command"},
		"securechat_fanout_deliveries_total":   nil,
		"securechat_sendq_drops_total":         nil,
		"securechat_channels":                  nil,
		"securechat_channel_members":           nil,
		"securechat_history_appends_total":     nil,
		"securechat_history_reads_total":       nil,
		"securechat_history_errors_total":      {"op"},
		"securechat_write_queue_depth":         nil,
		"securechat_write_queue_drops_total":   nil,
		"securechat_store_latency_seconds":     {"op"},
		"securechat_crypto_latency_seconds":    {"op"},
		"securechat_replay_messages":           nil,
		"securechat_replay_latency_seconds":    nil,
		"securechat_relay_latency_seconds":     nil,
		"securechat_push_notifications_total":  {"result"},

		"securechat_cluster_node_info":                {"node"},
		"securechat_cluster_up":                       nil,
		"securechat_cluster_nodes":                    nil,
		"securechat_cluster_lease_renewals_total":     nil,
		"securechat_cluster_split_brain_guards_total": nil,
		"securechat_cluster_redis_resets_total":       nil,
		"securechat_cluster_messages_total":           {"direction"},
		"securechat_cluster_messages_dropped_total":   {"reason"},
		"securechat_cluster_resubscribes_total":       nil,
		"securechat_cluster_pubsub_lag_seconds":       nil,
	}
}

// touchAll updates every collector once, so that even vectors without
// pre-created series show up in a scrape, and sets a cluster source, so
// the cluster families do too.
func touchAll(m *Metrics) {
	m.ClientsConnected.WithLabelValues(ListenerTLS).Inc()
	m.Registrations.WithLabelValues(ResultOK).Inc()
	m.AuthFailures.WithLabelValues(MechanismPass).Inc()
	m.Refused.WithLabelValues(ReasonFlood).Inc()
	m.MessagesIn.WithLabelValues(CommandLabel("PRIVMSG")).Inc()
	m.MessagesOut.WithLabelValues(CommandLabel("001")).Inc()
	m.Deliveries.Inc()
	m.SendQDrops.Inc()
	m.Channels.Set(1)
	m.ChannelMembers.Set(2)
	m.HistoryAppends.Inc()
	m.HistoryReads.Inc()
	m.HistoryErrors.WithLabelValues(OpOpen).Inc()
	m.WriteQueueDepth.Set(3)
	m.WriteQueueDrops.Inc()
	m.StoreLatency.WithLabelValues("append").Observe(0.0002)
	m.CryptoLatency.WithLabelValues(OpSeal).Observe(0.000004)
	m.ReplayMessages.Observe(50)
	m.ReplayLatency.Observe(0.01)
	m.RelayLatency.Observe(0.0001)
	m.SetClusterCounts(func() ClusterCounts { return ClusterCounts{Node: "node1", Up: true, Nodes: 3} })
	m.ClusterLag.Observe(0.002)
}

// gatherTouched builds Metrics on a fresh registry, touches every collector
// and returns the gathered families by name.
func gatherTouched(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	touchAll(New(reg, "v1.2.3"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	byName := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	return byName
}

// securechatFamilies returns the names of the securechat_* families in got.
func securechatFamilies(got map[string]*dto.MetricFamily) []string {
	var names []string
	for name := range got {
		if strings.HasPrefix(name, "securechat_") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func TestNewRegistersEveryFamily(t *testing.T) {
	t.Parallel()
	got := gatherTouched(t)
	want := slices.Sorted(maps.Keys(wantFamilies()))
	if have := securechatFamilies(got); !slices.Equal(have, want) {
		t.Errorf("securechat families:\n got %q\nwant %q", have, want)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_open_fds", "process_resident_memory_bytes"} {
		if got[name] == nil {
			t.Errorf("runtime/process family %s not registered", name)
		}
	}
}

func TestNewTwiceOnOneRegistryPanics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(reg, "a")
	defer func() {
		if recover() == nil {
			t.Error("second New on the same registry did not panic")
		}
	}()
	New(reg, "b")
}

func TestBuildInfo(t *testing.T) {
	t.Parallel()
	mf := gatherTouched(t)["securechat_build_info"]
	if n := len(mf.GetMetric()); n != 1 {
		t.Fatalf("build_info has %d series, want 1", n)
	}
	m := mf.GetMetric()[0]
	labels := labelMap(m)
	if labels["version"] != "v1.2.3" || !strings.HasPrefix(labels["goversion"], "go") {
		t.Errorf("build_info labels = %v", labels)
	}
	if v := m.GetGauge().GetValue(); v != 1 {
		t.Errorf("build_info = %v, want 1", v)
	}
}

func TestLabelNamesAreBounded(t *testing.T) {
	t.Parallel()
	want := wantFamilies()
	for name, mf := range gatherTouched(t) {
		allowed, ok := want[name]
		if !ok {
			continue
		}
		for _, m := range mf.GetMetric() {
			if have := slices.Sorted(maps.Keys(labelMap(m))); !slices.Equal(have, allowed) {
				t.Errorf("%s labels %q, want %q", name, have, allowed)
			}
		}
	}
}

// TestFixedLabelSetsPrecreated checks that the closed label sets exist at
// zero before anything happens, so rate() and alerts see the first event.
func TestFixedLabelSetsPrecreated(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, "test")
	cases := []struct {
		name string
		c    prometheus.Collector
		want int
	}{
		{"clients_connected", m.ClientsConnected, 3},
		{"registrations_total", m.Registrations, 4},
		{"auth_failures_total", m.AuthFailures, 3},
		{"refused_connections_total", m.Refused, 7},
		{"history_errors_total", m.HistoryErrors, 7},
		{"crypto_latency_seconds", m.CryptoLatency, 2},
		{"messages_received_total", m.MessagesIn, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if n := countSeries(tc.c); n != tc.want {
				t.Errorf("%d series, want %d", n, tc.want)
			}
		})
	}
}

func TestCommandLabel(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"PRIVMSG", "PRIVMSG"},
		{"privmsg", "PRIVMSG"},
		{"PrivMsg", "PRIVMSG"},
		{"CHATHISTORY", "CHATHISTORY"},
		{"001", "numeric"},
		{"433", "numeric"},
		{"0001", "other"},
		{"12a", "other"},
		{"", "other"},
		{"FROBNICATE", "other"},
		{"#channel", "other"},
		{"PRIVMSG\x00", "other"},
		{strings.Repeat("A", 1000), "other"},
	}
	for _, tc := range cases {
		if got := CommandLabel(tc.in); got != tc.want {
			t.Errorf("CommandLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestMessagesLabelBounded sends a flood of distinct made-up commands through
// CommandLabel and checks the series count stays put.
func TestMessagesLabelBounded(t *testing.T) {
	t.Parallel()
	m := New(prometheus.NewRegistry(), "test")
	for i := range 10000 {
		m.MessagesIn.WithLabelValues(CommandLabel("X" + strings.Repeat("Y", i%50) + string(rune('a'+i%26)))).Inc()
	}
	m.MessagesIn.WithLabelValues(CommandLabel("PING")).Inc()
	if n := countSeries(m.MessagesIn); n != 2 {
		t.Errorf("MessagesIn has %d series after 10001 commands, want 2 (other, PING)", n)
	}
}

// TestCachedCommandCounters checks that In and Out count on the same series
// as the vectors, under the label CommandLabel gives, and that their cache
// creates no series of its own for made-up commands.
func TestCachedCommandCounters(t *testing.T) {
	t.Parallel()
	m := New(prometheus.NewRegistry(), "test")
	for i := range 1000 {
		m.In("privmsg").Inc()
		m.In("MADEUP" + strconv.Itoa(i)).Inc()
		m.Out("PRIVMSG").Add(2)
	}
	m.Out("001").Inc()
	checks := []struct {
		vec   *prometheus.CounterVec
		label string
		want  float64
	}{
		{m.MessagesIn, "PRIVMSG", 1000},
		{m.MessagesIn, "other", 1000},
		{m.MessagesOut, "PRIVMSG", 2000},
		{m.MessagesOut, "numeric", 1},
	}
	for _, c := range checks {
		var d dto.Metric
		if err := c.vec.WithLabelValues(c.label).Write(&d); err != nil {
			t.Fatal(err)
		}
		if got := d.GetCounter().GetValue(); got != c.want {
			t.Errorf("%s = %v, want %v", c.label, got, c.want)
		}
	}
	if n := countSeries(m.MessagesIn); n != 2 {
		t.Errorf("MessagesIn has %d series, want 2 (PRIVMSG, other)", n)
	}
}

func FuzzCommandLabel(f *testing.F) {
	for _, s := range []string{"PRIVMSG", "privmsg", "001", "", "ÿ", "ﬀ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		got := CommandLabel(cmd)
		if got != "other" && got != "numeric" && !knownCommand(got) {
			t.Errorf("CommandLabel(%q) = %q, outside the bounded set", cmd, got)
		}
	})
}

func labelMap(m *dto.Metric) map[string]string {
	labels := make(map[string]string, len(m.GetLabel()))
	for _, lp := range m.GetLabel() {
		labels[lp.GetName()] = lp.GetValue()
	}
	return labels
}

func countSeries(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	n := 0
	for range ch {
		n++
	}
	return n
}
