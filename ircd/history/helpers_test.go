package history

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"securechat/crypto"
	"securechat/ircd/wire"
	"securechat/metrics"
	"securechat/store"
)

const (
	testPassword = "correct horse battery staple"
	testEpoch    = 24 * time.Hour
)

// cheapKDF keeps tests fast; production parameters are tested in crypto.
var cheapKDF = crypto.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

func newTestVault(t testing.TB) *crypto.Vault {
	t.Helper()
	v, err := crypto.NewKeyring([]byte(testPassword), cheapKDF, time.Now(), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// newTestHistory starts a History over st with its own metrics registry
// and closes it when the test ends. Closing it earlier is fine.
func newTestHistory(t testing.TB, v *crypto.Vault, st store.Store) (*History, *metrics.Metrics) {
	t.Helper()
	m := metrics.New(prometheus.NewRegistry(), "test")
	h := New(v, st, Options{QueueSize: 64, Metrics: m})
	t.Cleanup(func() { _ = h.Close(testContext(t, 5*time.Second)) })
	return h, m
}

// closeHistory closes h, failing the test if that takes more than a few
// seconds or fails.
func closeHistory(t testing.TB, h *History) {
	t.Helper()
	if err := h.Close(testContext(t, 5*time.Second)); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newMemory() *store.Memory { return store.NewMemory(store.Options{}) }

// msgEntry builds an entry from a raw IRC line.
func msgEntry(t testing.TB, id string, at time.Time, line string) *Entry {
	t.Helper()
	m, err := wire.Parse([]byte(line))
	if err != nil {
		t.Fatalf("parsing %q: %v", line, err)
	}
	return &Entry{MsgID: id, At: at, Msg: m}
}

// sealedRecord seals line under key with v directly, bypassing History,
// so a test can store what History itself would never write.
func sealedRecord(t testing.TB, v *crypto.Vault, key, id string, at time.Time, line string) store.Record {
	t.Helper()
	data, err := v.Seal(key, id, at, []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return store.Record{ID: id, Time: at, Data: data}
}

func msgIDs(es []*Entry) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.MsgID)
	}
	return out
}

// errorCount reads HistoryErrors{op}.
func errorCount(t testing.TB, m *metrics.Metrics, op string) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.HistoryErrors.WithLabelValues(op).Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue()
}

// eventually polls cond until it holds or a few seconds pass, for work
// that happens in the background.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// baseTime is a store-precision time for test records.
func baseTime() time.Time { return time.Now().Truncate(time.Millisecond) }

func equalIDs(got []*Entry, want []string) bool { return slices.Equal(msgIDs(got), want) }
