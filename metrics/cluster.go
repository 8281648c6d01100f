package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// ClusterCounts is a snapshot of a clustered node's state and running
// totals, as the cluster package keeps them: the counters are the fields of
// cluster.Stats with the same names.
type ClusterCounts struct {
	Node  string // this node's id, operator-chosen or random hex; not secret
	Up    bool   // the node holds its lease
	Nodes int    // live nodes seen, this one included

	// lease_renewals_total, split_brain_guards_total, redis_resets_total
	LeaseRenewals, GuardsTripped, Resets uint64
	// messages_total{direction="out"}; messages_dropped_total{reason=
	// "queue_full"} and {reason="publish_error"}
	Published, PublishDropped, PublishErrors uint64
	// messages_total{direction="in"}; messages_dropped_total{reason="lost"},
	// {reason="out_of_order"} and {reason="open_failed"}
	Received, Lost, OutOfOrder, OpenFailures uint64
	// messages_dropped_total{reason="not_applied"}: opened, but naming a
	// user or event this node does not know (the nodes' views differ)
	NotApplied   uint64
	Resubscribes uint64 // resubscribes_total
}

// clusterCollector exports the cluster's counters at scrape time, so they
// are counted once, by the cluster package, and never kept in step here.
// Until SetClusterCounts is called it exports nothing at all, not even
// zeros: a node without --cluster has no securechat_cluster_* series, and
// dashboards and alerts keyed on them stay quiet instead of reading 0.
type clusterCollector struct {
	count atomic.Pointer[func() ClusterCounts]
	lag   prometheus.Histogram // Metrics.ClusterLag, forwarded once counts are set

	info, up, nodes, renewals, guards, resets *prometheus.Desc
	messages, dropped, resubscribes           *prometheus.Desc
}

func newClusterCollector() *clusterCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("securechat_cluster_"+name, help, labels, nil)
	}
	return &clusterCollector{
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "securechat", Name: "cluster_pubsub_lag_seconds", Buckets: clusterLagBuckets(),
			Help: "Time from a message's origin timestamp to its delivery on another node.",
		}),
		info:         desc("node_info", "Always 1; the node label carries this node's cluster id.", "node"),
		up:           desc("up", "1 while this node holds its cluster lease, else 0."),
		nodes:        desc("nodes", "Live cluster nodes this node sees, itself included."),
		renewals:     desc("lease_renewals_total", "Cluster lease renewals."),
		guards:       desc("split_brain_guards_total", "Times this node found itself fenced off by another holder of its lease."),
		resets:       desc("redis_resets_total", "Times Redis was found to have lost the cluster registry."),
		messages:     desc("messages_total", "Cross-node messages, by direction: out (published), in (received).", "direction"),
		dropped:      desc("messages_dropped_total", "Cross-node messages dropped, by reason: queue_full, publish_error, lost, out_of_order, open_failed, not_applied.", "reason"),
		resubscribes: desc("resubscribes_total", "Pub/sub subscriptions re-established after a reconnect."),
	}
}

// SetClusterCounts makes the cluster metrics read f, which the server
// passes once it has joined the cluster; f is called on the scraping
// goroutine. Before it is called, or after it is called with nil, no
// cluster metric is exported.
func (m *Metrics) SetClusterCounts(f func() ClusterCounts) {
	if f == nil {
		m.cluster.count.Store(nil)
		return
	}
	m.cluster.count.Store(&f)
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.info, c.up, c.nodes, c.renewals, c.guards,
		c.resets, c.messages, c.dropped, c.resubscribes} {
		ch <- d
	}
	c.lag.Describe(ch)
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.count.Load()
	if f == nil {
		return
	}
	s := (*f)()
	// The node id comes from configuration; an id Prometheus cannot carry
	// (invalid UTF-8) fails this one series, not the scrape or the process.
	ch <- constMetric(c.info, prometheus.GaugeValue, 1, s.Node)
	ch <- constMetric(c.up, prometheus.GaugeValue, boolValue(s.Up))
	ch <- constMetric(c.nodes, prometheus.GaugeValue, float64(s.Nodes))
	for _, v := range []struct {
		desc *prometheus.Desc
		n    uint64
		l    string
	}{
		{c.renewals, s.LeaseRenewals, ""}, {c.guards, s.GuardsTripped, ""},
		{c.resets, s.Resets, ""}, {c.resubscribes, s.Resubscribes, ""},
		{c.messages, s.Published, "out"}, {c.messages, s.Received, "in"},
		{c.dropped, s.PublishDropped, "queue_full"}, {c.dropped, s.PublishErrors, "publish_error"},
		{c.dropped, s.Lost, "lost"}, {c.dropped, s.OutOfOrder, "out_of_order"},
		{c.dropped, s.OpenFailures, "open_failed"},
		{c.dropped, s.NotApplied, "not_applied"},
	} {
		var labels []string
		if v.l != "" {
			labels = []string{v.l}
		}
		ch <- constMetric(v.desc, prometheus.CounterValue, float64(v.n), labels...)
	}
	c.lag.Collect(ch)
}

// constMetric is prometheus.MustNewConstMetric that reports a bad label
// value as an invalid metric instead of panicking.
func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// clusterLagBuckets spans 100µs (two nodes and Redis on one host) to 5s (a
// node catching up after a Redis failover).
func clusterLagBuckets() []float64 {
	return []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
}
