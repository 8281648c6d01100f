package cluster

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"securechat/store/redistest"
)

const chanKey, otherKey = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"

// numSub asks the master that owns a shard channel how many connections
// subscribe to it (PUBSUB SHARDNUMSUB is per node).
func (e *env) numSub(t *testing.T, key string) int64 {
	t.Helper()
	ch := names{e.prefix}.channel(key)
	var c redis.Cmdable = e.raw
	if cc, ok := e.raw.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(t.Context(), ch)
		if err != nil {
			t.Fatal(err)
		}
		c = m
	}
	n, err := c.PubSubShardNumSub(t.Context(), ch).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n[ch]
}

func subscribe(t *testing.T, n *node, key string) {
	t.Helper()
	if err := n.Subscribe(t.Context(), key); err != nil {
		t.Fatalf("%s subscribes: %v", n.ID(), err)
	}
}

// testFanoutOrderAndInterest has two nodes publish to one channel at once:
// the subscriber gets every message once, in each publisher's order; the
// publisher subscribed too gets none of its own; a node not subscribed gets
// nothing, and Redis shows it is not even a subscriber.
func testFanoutOrderAndInterest(t *testing.T, e *env) {
	a, b, c := e.join(t, "a"), e.join(t, "b"), e.join(t, "c")
	subscribe(t, a, chanKey)
	subscribe(t, b, chanKey)
	subscribe(t, c, otherKey)
	const per = 1000
	var wg sync.WaitGroup
	for _, pub := range []*node{a, c} {
		wg.Go(func() {
			for i := range per {
				for pub.Publish(chanKey, fmt.Appendf(nil, "%s %05d", pub.ID(), i)) == ErrQueueFull {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	next := map[string]int{}
	for range 2 * per {
		m := b.recv(t)
		want := fmt.Sprintf("%s %05d", m.Origin, next[m.Origin])
		if m.Key != chanKey || m.Direct || string(m.Payload) != want {
			t.Fatalf("b got %+v (%q), want %q on the channel key; stats a %+v b %+v c %+v", m, m.Payload, want, a.Stats(), b.Stats(), c.Stats())
		}
		next[m.Origin]++
	}
	eventually(t, "a drops its own echoes", func() bool { return a.Stats().Echoes == per })
	eventually(t, "c counts its messages published", func() bool { return c.Stats().Published == per })
	if got := e.numSub(t, chanKey); got != 2 {
		t.Errorf("SHARDNUMSUB of the channel = %d, want 2 (a and b)", got)
	}
	if err := a.Publish(otherKey, []byte("for c")); err != nil {
		t.Fatal(err)
	}
	if m := c.recv(t); string(m.Payload) != "for c" {
		t.Fatalf("c got %q", m.Payload)
	}
	if len(c.msgs) != 0 || len(b.msgs) != 0 {
		t.Errorf("unrequested traffic: c has %d more, b has %d more", len(c.msgs), len(b.msgs))
	}
	for name, n := range map[string]*node{"a": a, "b": b} {
		s := n.Stats()
		if s.Lost != 0 || s.OutOfOrder != 0 || s.OpenFailures != 0 {
			t.Errorf("%s: %+v", name, s)
		}
	}
	if got := a.Stats().Received; got != per {
		t.Errorf("a received %d (c's %d only), echoes leaked", got, per)
	}
}

func testSubscribeRefCounted(t *testing.T, e *env) {
	a, b := e.join(t, "a"), e.join(t, "b")
	subscribe(t, b, chanKey)
	subscribe(t, b, chanKey)
	if got := e.numSub(t, chanKey); got != 1 {
		t.Fatalf("two local subscribers, SHARDNUMSUB = %d, want one connection", got)
	}
	if err := b.Unsubscribe(t.Context(), chanKey); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(chanKey, []byte("still")); err != nil {
		t.Fatal(err)
	}
	if m := b.recv(t); string(m.Payload) != "still" {
		t.Fatalf("b got %q", m.Payload)
	}
	if err := b.Unsubscribe(t.Context(), chanKey); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the last Unsubscribe ends the subscription", func() bool { return e.numSub(t, chanKey) == 0 })
}

func testSendNode(t *testing.T, e *env) {
	a, b, c := e.join(t, "a"), e.join(t, "b"), e.join(t, "c")
	subscribe(t, c, chanKey)
	if err := a.SendNode("b", []byte("direct")); err != nil {
		t.Fatal(err)
	}
	m := b.recv(t)
	if !m.Direct || m.Key != "" || m.Origin != "a" || string(m.Payload) != "direct" {
		t.Fatalf("b got %+v", m)
	}
	if err := a.Publish(chanKey, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if m := c.recv(t); string(m.Payload) != "after" {
		t.Fatalf("c got %q, a direct message leaked", m.Payload)
	}
}

// testSequenceChecks publishes hand-made envelopes: gaps are counted as
// lost, repeats and late ones are dropped, a payload moved to another
// channel or garbled fails to open, and nothing bad is delivered.
func testSequenceChecks(t *testing.T, e *env) {
	b := e.join(t, "b")
	subscribe(t, b, chanKey)
	subscribe(t, b, otherKey)
	n := names{e.prefix}
	env := func(seq uint64, key string) []byte {
		hdr := header{origin: "x", inc: 9, seq: seq}.append(nil)
		sealed, _ := e.sealer.Seal(fmt.Appendf(nil, "%d", seq), aad(hdr, key))
		return append(hdr, sealed...)
	}
	pub := func(key string, payload []byte) {
		if err := e.raw.SPublish(t.Context(), n.channel(key), payload).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, seq := range []uint64{1, 2, 5, 4, 5} {
		pub(chanKey, env(seq, chanKey))
	}
	pub(chanKey, env(6, otherKey)) // sealed for another channel
	pub(chanKey, []byte("garbage"))
	pub(chanKey, env(6, chanKey))
	var got []string
	for range 4 {
		got = append(got, string(b.recv(t).Payload))
	}
	if strings.Join(got, ",") != "1,2,5,6" {
		t.Errorf("delivered %v, want 1,2,5,6", got)
	}
	s := b.Stats()
	if s.Lost != 2 || s.OutOfOrder != 2 || s.OpenFailures != 2 || s.Received != 4 {
		t.Errorf("stats %+v; want 2 lost, 2 out of order, 2 open failures, 4 received", s)
	}
}

// testNoPlaintextInPubSub watches every command Redis runs (MONITOR on
// each master) and a raw subscriber while a node publishes, sends to a
// node and claims a nick: the text never appears, though the traffic does.
func testNoPlaintextInPubSub(t *testing.T, e *env) {
	a, b := e.join(t, "a"), e.join(t, "b")
	var monitors []*redistest.Monitor
	for _, srv := range e.servers {
		monitors = append(monitors, srv.Monitor())
	}
	raw := e.raw.SSubscribe(t.Context(), names{e.prefix}.channel(chanKey))
	defer raw.Close()
	if _, err := raw.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	subscribe(t, b, chanKey)
	secret := "the eagle lands at midnight"
	if err := a.Publish(chanKey, []byte(secret)); err != nil {
		t.Fatal(err)
	}
	if err := a.SendNode("b", []byte(secret)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ClaimNick(t.Context(), nickKey(3)); err != nil {
		t.Fatal(err)
	}
	msg, err := raw.ReceiveMessage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(msg.Payload, secret) || len(msg.Payload) < len(secret) {
		t.Errorf("raw subscriber saw %q", msg.Payload)
	}
	for range 2 {
		if m := b.recv(t); string(m.Payload) != secret {
			t.Fatalf("b got %q", m.Payload)
		}
	}
	var lines []string
	for _, m := range monitors {
		lines = append(lines, m.Sync()...)
	}
	all := strings.ToLower(strings.Join(lines, "\n"))
	if !strings.Contains(all, "spublish") || !strings.Contains(all, "evalsha") {
		t.Fatalf("MONITOR saw no SPUBLISH or script: %q", all)
	}
	if strings.Contains(all, "eagle") {
		t.Errorf("MONITOR saw the plaintext")
	}
}
