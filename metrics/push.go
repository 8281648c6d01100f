package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// PushCounts are the Web Push sender's running totals, by outcome.
type PushCounts struct {
	Sent, Gone, Failed, RateLimited, QueueFull uint64
}

// pushCollector exports the push sender's own counters at scrape time as
// securechat_push_notifications_total{result}. The sender counts with
// atomics of its own; reading them when scraped keeps one count, not two
// kept in step. With no sender every result reads 0.
type pushCollector struct {
	desc  *prometheus.Desc
	count atomic.Pointer[func() PushCounts]
}

func newPushCollector() *pushCollector {
	return &pushCollector{desc: prometheus.NewDesc("securechat_push_notifications_total",
		"Web Push notifications by result: sent, gone (404/410, unsubscribed), failed, rate_limited, queue_full.",
		[]string{"result"}, nil)}
}

// SetPushCounts makes the push metrics read f, which the server passes
// once its sender runs; f is called on the scraping goroutine.
func (m *Metrics) SetPushCounts(f func() PushCounts) { m.push.count.Store(&f) }

func (p *pushCollector) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }

func (p *pushCollector) Collect(ch chan<- prometheus.Metric) {
	var c PushCounts
	if f := p.count.Load(); f != nil {
		c = (*f)()
	}
	for _, r := range []struct {
		result string
		n      uint64
	}{{"sent", c.Sent}, {"gone", c.Gone}, {"failed", c.Failed}, {"rate_limited", c.RateLimited}, {"queue_full", c.QueueFull}} {
		ch <- prometheus.MustNewConstMetric(p.desc, prometheus.CounterValue, float64(r.n), r.result)
	}
}
