package metrics

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// clusterFamilies returns the securechat_cluster_* families reg gathers.
func clusterFamilies(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "securechat_cluster_") {
			got[mf.GetName()] = mf
		}
	}
	return got
}

// TestClusterMetricsAbsentWithoutSource checks that a node not in a
// cluster exports no cluster series, even after something observed the lag
// histogram, and that clearing the source withdraws them again.
func TestClusterMetricsAbsentWithoutSource(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, "test")
	m.ClusterLag.Observe(0.01)
	if got := clusterFamilies(t, reg); len(got) != 0 {
		t.Errorf("without a source, scrape has cluster families %v", got)
	}
	m.SetClusterCounts(func() ClusterCounts { return ClusterCounts{Node: "a"} })
	if got := clusterFamilies(t, reg); len(got) != 10 {
		t.Errorf("with a source, scrape has %d cluster families, want 10", len(got))
	}
	m.SetClusterCounts(nil)
	if got := clusterFamilies(t, reg); len(got) != 0 {
		t.Errorf("after SetClusterCounts(nil), scrape has cluster families %v", got)
	}
}

// TestClusterMetricsValues gives every count a distinct value and checks
// each lands on its own series under the right name and label.
func TestClusterMetricsValues(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, "test")
	m.SetClusterCounts(func() ClusterCounts {
		return ClusterCounts{Node: "node2", Up: true, Nodes: 3,
			LeaseRenewals: 11, GuardsTripped: 12, Resets: 13, Published: 14, PublishDropped: 15,
			PublishErrors: 16, Received: 17, Lost: 18, OutOfOrder: 19, OpenFailures: 20, Resubscribes: 21, NotApplied: 22}
	})
	m.ClusterLag.Observe(0.0003)
	m.ClusterLag.Observe(2)
	got := clusterFamilies(t, reg)
	cases := []struct {
		family, label string
		want          float64
	}{
		{"securechat_cluster_node_info", "node=node2", 1},
		{"securechat_cluster_up", "", 1},
		{"securechat_cluster_nodes", "", 3},
		{"securechat_cluster_lease_renewals_total", "", 11},
		{"securechat_cluster_split_brain_guards_total", "", 12},
		{"securechat_cluster_redis_resets_total", "", 13},
		{"securechat_cluster_messages_total", "direction=out", 14},
		{"securechat_cluster_messages_total", "direction=in", 17},
		{"securechat_cluster_messages_dropped_total", "reason=queue_full", 15},
		{"securechat_cluster_messages_dropped_total", "reason=publish_error", 16},
		{"securechat_cluster_messages_dropped_total", "reason=lost", 18},
		{"securechat_cluster_messages_dropped_total", "reason=out_of_order", 19},
		{"securechat_cluster_messages_dropped_total", "reason=open_failed", 20},
		{"securechat_cluster_messages_dropped_total", "reason=not_applied", 22},
		{"securechat_cluster_resubscribes_total", "", 21},
	}
	for _, tc := range cases {
		t.Run(tc.family+"/"+tc.label, func(t *testing.T) {
			v, ok := seriesValue(got[tc.family], tc.label)
			if !ok {
				t.Fatalf("no series %s{%s}", tc.family, tc.label)
			}
			if v != tc.want {
				t.Errorf("%s{%s} = %v, want %v", tc.family, tc.label, v, tc.want)
			}
		})
	}
	if n := len(got["securechat_cluster_messages_dropped_total"].GetMetric()); n != 6 {
		t.Errorf("messages_dropped_total has %d series, want 6 reasons", n)
	}
	h := got["securechat_cluster_pubsub_lag_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() != 2.0003 {
		t.Errorf("lag histogram count %d sum %v, want 2 and 2.0003", h.GetSampleCount(), h.GetSampleSum())
	}
	if b := h.GetBucket(); b[0].GetUpperBound() != 0.0001 || b[len(b)-1].GetUpperBound() != 5 {
		t.Errorf("lag buckets span %v to %v, want 100µs to 5s", b[0].GetUpperBound(), b[len(b)-1].GetUpperBound())
	}
}

// TestClusterMetricsDown checks a node that lost its lease reads up 0.
func TestClusterMetricsDown(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, "test")
	var up atomic.Bool
	up.Store(true)
	m.SetClusterCounts(func() ClusterCounts { return ClusterCounts{Node: "n", Up: up.Load(), Nodes: 1} })
	for _, want := range []float64{1, 0} {
		up.Store(want == 1)
		if v, _ := seriesValue(clusterFamilies(t, reg)["securechat_cluster_up"], ""); v != want {
			t.Errorf("cluster_up = %v, want %v", v, want)
		}
	}
}

// TestClusterScrape reads the cluster series through Handler as Prometheus
// would, in the text format.
func TestClusterScrape(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, "test")
	m.SetClusterCounts(func() ClusterCounts { return ClusterCounts{Node: "7f3a", Up: true, Nodes: 2, Received: 5} })
	m.ClusterLag.Observe(0.004)
	code, body := get(t, Handler(reg, HandlerOptions{}), "GET", "/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	for _, want := range []string{
		`securechat_cluster_node_info{node="7f3a"} 1`,
		"securechat_cluster_up 1",
		"securechat_cluster_nodes 2",
		`securechat_cluster_messages_total{direction="in"} 5`,
		`securechat_cluster_messages_dropped_total{reason="lost"} 0`,
		`securechat_cluster_pubsub_lag_seconds_bucket{le="0.005"} 1`,
		"securechat_cluster_pubsub_lag_seconds_count 1",
	} {
		if !strings.Contains(body, "\n"+want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// TestClusterBadNodeID checks that a node id Prometheus cannot carry fails
// only its own series: the rest of the scrape goes on and nothing panics.
func TestClusterBadNodeID(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, "test")
	m.SetClusterCounts(func() ClusterCounts { return ClusterCounts{Node: "bad\xff", Up: true, Nodes: 1} })
	if _, err := reg.Gather(); err == nil {
		t.Error("Gather accepted a node id that is not UTF-8")
	}
	code, body := get(t, Handler(reg, HandlerOptions{}), "GET", "/metrics", "")
	if code != http.StatusOK || !strings.Contains(body, "\nsecurechat_cluster_up 1\n") {
		t.Errorf("GET /metrics = %d without cluster_up:\n%s", code, body)
	}
	if strings.Contains(body, "securechat_cluster_node_info{") {
		t.Error("scrape exported the invalid node id")
	}
}

// seriesValue returns the value of the series in mf whose one label is
// label ("name=value"), or whose labels are none when label is "".
func seriesValue(mf *dto.MetricFamily, label string) (float64, bool) {
	for _, m := range mf.GetMetric() {
		var have string
		for _, lp := range m.GetLabel() {
			have = lp.GetName() + "=" + lp.GetValue()
		}
		if have != label || len(m.GetLabel()) > 1 {
			continue
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}
