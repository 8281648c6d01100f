package ircd

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/history"
	"securechat/ircd/wire"
)

// benchEntry is a typical channel message as sealed: prefix, target and
// about 80 characters of text.
func benchEntry(s *Server, target string, i int) *history.Entry {
	at := storedTime(time.Now())
	text := fmt.Sprintf("message %d: %s", i, strings.Repeat("lorem ipsum ", 6))
	msg := &irc.Message{Prefix: &irc.Prefix{Name: "alice", User: "~alice", Host: "127.0.0.1"},
		Command: "PRIVMSG", Params: []string{target, text}}
	return &history.Entry{MsgID: s.newMsgID(at), At: at, Msg: msg}
}

// BenchmarkSealMessage measures Vault.Seal alone on a typical line.
func BenchmarkSealMessage(b *testing.B) {
	v := newTestVault(b)
	key := v.TargetKey("#bench")
	s := &Server{}
	e := benchEntry(s, "#bench", 0)
	line := wire.Line(e.Msg)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Seal(key, e.MsgID, e.At, line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHistoryAppend measures the whole per-message cost on the
// relay path: target key, serialization, seal, metrics and queueing.
func BenchmarkHistoryAppend(b *testing.B) {
	ts := newTestServer(b)
	e := benchEntry(ts.srv, "#bench", 0)
	key := ts.vault.TargetKey("#bench")
	b.ReportAllocs()
	for b.Loop() {
		ts.srv.history.AppendChannel(key, "#bench", e)
	}
}

// BenchmarkReplay50OnJoin measures, end to end over TLS with a real
// redis-server, the time from sending JOIN to receiving the end of the
// replay batch, for a channel holding 50 messages that is not in memory
// (as after a restart), so its tail is read from Redis and opened.
func BenchmarkReplay50OnJoin(b *testing.B) {
	ts := newRedisEnv(b).server(b)
	c := ts.register("joiner", "batch", "server-time", "message-tags")
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		name := fmt.Sprintf("#cold%d", i)
		for j := range 50 {
			ts.srv.history.AppendChannel(ts.vault.TargetKey(name), name, benchEntry(ts.srv, name, j))
		}
		ts.flushHistory()
		b.StartTimer()
		start := time.Now()
		c.Send("JOIN %s", name)
		if n := c.readBatchEnd(); n != 50 {
			b.Fatalf("replayed %d messages, want 50", n)
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		c.Send("PART %s", name) // stay under the channel limit
		b.StartTimer()
	}
	reportPercentiles(b, lat)
}

// BenchmarkChathistoryLatest50 measures CHATHISTORY LATEST * 50 against
// Redis, from sending the command to the end of the batch.
func BenchmarkChathistoryLatest50(b *testing.B) {
	ts := newRedisEnv(b).server(b)
	c := ts.register("reader", "batch", "server-time", "message-tags")
	c.Join("#hist")
	for j := range 50 {
		ts.srv.history.AppendChannel(ts.vault.TargetKey("#hist"), "#hist", benchEntry(ts.srv, "#hist", j))
	}
	ts.flushHistory()
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		c.Send("CHATHISTORY LATEST #hist * 50")
		if n := c.readBatchEnd(); n != 50 {
			b.Fatalf("got %d messages, want 50", n)
		}
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}

// readBatchEnd reads raw lines until a batch ends and returns how many
// lines carried a batch tag; it avoids regexps so the client side adds
// little to the measurement.
func (c *testClient) readBatchEnd() int {
	c.T().Helper()
	n := 0
	for {
		line, err := c.ReadLine(5 * time.Second)
		if err != nil {
			c.T().Fatalf("waiting for a batch end: %v", err)
		}
		if strings.HasPrefix(line, "@batch=") || strings.Contains(line, ";batch=") {
			n++
		}
		if strings.Contains(line, " BATCH -") {
			return n
		}
	}
}

// reportPercentiles reports the median and 99th percentile latency in
// milliseconds.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
