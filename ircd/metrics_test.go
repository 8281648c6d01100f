package ircd

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"securechat/config"
	"securechat/metrics"
	"securechat/store"
	"securechat/store/redistest"
)

// TestMetricsFamiliesMove drives one session through everything the
// metrics describe — a failed login, registrations, joins with replay,
// messages, CHATHISTORY, a slow consumer — on a server whose history is in
// a real Redis, and checks that every securechat_ family moved.
func TestMetricsFamiliesMove(t *testing.T) {
	t.Parallel()
	ts, redis := metricsServer(t)
	ts.failLogin()
	alice := ts.register("alice", "batch", "server-time", "message-tags", "draft/chathistory")
	bob := ts.register("bob")
	alice.Join("#m")
	bob.Join("#m")
	for i := range 3 {
		alice.Send("PRIVMSG #m :metric %d", i)
		bob.Expect(fmt.Sprintf(`PRIVMSG #m :metric %d$`, i))
	}
	ts.flushHistory()
	if d := counterValue(t, ts, "securechat_write_queue_depth", nil); d != 0 {
		t.Errorf("write queue depth after a flush = %v, want 0", d)
	}
	alice.Send("CHATHISTORY LATEST #m * 10")
	alice.Expect(`BATCH -`)
	ts.register("carol").Join("#m") // replayed the three messages
	ts.slowConsumer()
	ts.undecryptableRecord(bob)
	ts.writeQueueOverflow(alice, redis)

	gathered := gatherAll(t, ts)
	// Pushes need accounts and a push service: TestWebpush* check that
	// securechat_push_notifications_total counts sent and gone.
	delete(gathered, "securechat_push_notifications_total")
	for name, moved := range gathered {
		if strings.HasPrefix(name, "securechat_") && name != "securechat_build_info" && !moved {
			t.Errorf("%s did not move", name)
		}
	}
}

// metricsServer starts a test server on a real Redis whose round trips are
// observed into the server's own metrics, as the daemon wires them.
func metricsServer(t *testing.T) (*testServer, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	var m atomic.Pointer[metrics.Metrics]
	st, err := store.OpenRedis(context.Background(), srv.URL(), store.Options{
		ObserveLatency: func(op string, d time.Duration) {
			if mm := m.Load(); mm != nil {
				mm.StoreLatency.WithLabelValues(op).Observe(d.Seconds())
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ts := newTestServer(t, withStore(st, newTestVault(t)), withConfig(func(cfg *config.Config) {
		cfg.SendQ = 16 << 10
		cfg.WriteQueueSize = 2
		cfg.FloodExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}))
	m.Store(ts.metrics)
	return ts, srv
}

// undecryptableRecord stores garbage under a cold channel's key; joining
// it must skip the record and count the failure.
func (ts *testServer) undecryptableRecord(c *testClient) {
	key := ts.vault.TargetKey("#cold")
	rec := store.Record{ID: ts.srv.newMsgID(time.Now()), Time: storedTime(time.Now()), Data: []byte("not sealed")}
	if err := ts.store.Append(context.Background(), key, rec); err != nil {
		ts.t.Fatal(err)
	}
	c.Join("#cold")
}

// writeQueueOverflow pauses Redis writes so the two-record queue fills
// and further records are dropped, counted and logged.
func (ts *testServer) writeQueueOverflow(c *testClient, redis *redistest.Server) {
	if err := redis.Client().Do(context.Background(), "CLIENT", "PAUSE", "300", "WRITE").Err(); err != nil {
		ts.t.Fatal(err)
	}
	for i := range 10 {
		c.Send("PRIVMSG #m :overflow %d", i)
	}
	c.Sync()
}

func (ts *testServer) failLogin() {
	c := ts.dial()
	c.Send("PASS :not the password")
	c.Send("NICK mallory")
	c.Send("USER m 0 * :M")
	c.ExpectClosed()
}

// slowConsumer joins a client that never reads and floods its channel
// until the server cuts it off.
func (ts *testServer) slowConsumer() {
	slow := ts.dialWith(4096)
	slow.Send("PASS :%s", testPassword)
	slow.Send("NICK slow")
	slow.Send("USER slow 0 * :S")
	slow.Expect(` 001 `)
	slow.Join("#flood")
	talker := ts.registerPass("talker")
	talker.Join("#flood")
	text := strings.Repeat("y", 400)
	for i := 0; i < 400; i++ {
		for range 50 {
			talker.Send("PRIVMSG #flood :%s", text)
		}
		talker.Sync()
		if counterValue(ts.t, ts, "securechat_sendq_drops_total", nil) > 0 {
			return
		}
	}
	ts.t.Fatal("the slow consumer was never cut off")
}

// gatherAll reports, per metric family, whether any of its series is
// non-zero (counters, gauges) or has observations (histograms).
func gatherAll(t *testing.T, ts *testServer) map[string]bool {
	t.Helper()
	families, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			out[f.GetName()] = out[f.GetName()] || sampleMoved(m)
		}
	}
	return out
}

func sampleMoved(m *dto.Metric) bool {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue() != 0
	case m.Gauge != nil:
		return m.Gauge.GetValue() != 0
	case m.Histogram != nil:
		return m.Histogram.GetSampleCount() != 0
	}
	return false
}
