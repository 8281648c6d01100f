package cluster

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"securechat/store/redistest"
)

// testLease is short so tests see leases run out quickly; waits are
// bounded by many leases, as a deadline for a hung test, not a timing
// assertion.
const testLease = time.Second

const waitFor = 20 * testLease

// gcmSealer is a real Sealer: AES-256-GCM, random nonce first.
type gcmSealer struct{ aead cipher.AEAD }

func newSealer(t testing.TB) *gcmSealer {
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &gcmSealer{aead}
}

func (s *gcmSealer) Seal(plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plaintext, aad), nil
}

func (s *gcmSealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], aad)
}

// backend is a real Redis (one server or a cluster) shared by a test's
// subtests, each of which takes its own key prefix.
type backend struct {
	name      string
	newClient func() redis.UniversalClient
	server    *redistest.Server   // nil for a cluster
	cluster   *redistest.Cluster  // nil for a single server
	servers   []*redistest.Server // every master
	addrs     []string
	sealer    *gcmSealer
	prefixes  atomic.Int64
}

func singleBackend(t testing.TB) *backend {
	srv := redistest.Start(t)
	return &backend{name: "single", server: srv, servers: []*redistest.Server{srv}, addrs: []string{srv.Addr()}, sealer: newSealer(t), newClient: func() redis.UniversalClient {
		return redis.NewClient(&redis.Options{
			Addr:                     srv.Addr(),
			Protocol:                 2,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
	}}
}

func clusterBackend(t testing.TB) *backend {
	rc := redistest.StartCluster(t, 3)
	return &backend{name: "cluster", cluster: rc, servers: rc.Servers, addrs: rc.Addrs(), sealer: newSealer(t), newClient: func() redis.UniversalClient {
		return rc.NewClient(func(o *redis.ClusterOptions) { o.Protocol = 2 })
	}}
}

func redisClientRESP3(e *env) redis.UniversalClient {
	return redis.NewClient(&redis.Options{Addr: e.addrs[0]})
}

// env is one subtest's view of a backend: its prefix and raw client.
type env struct {
	*backend
	prefix string
	raw    redis.UniversalClient
}

func (b *backend) env(t testing.TB) *env {
	raw := b.newClient()
	t.Cleanup(func() { raw.Close() })
	return &env{backend: b, prefix: fmt.Sprintf("t%d:", b.prefixes.Add(1)), raw: raw}
}

// event is one membership hook call.
type event struct {
	kind  string // "up", "down", "fenced", "reclaim"
	id    string
	down  DownReason
	fence FenceReason
}

// node is a Cluster with its hook calls recorded.
type node struct {
	*Cluster
	events chan event
	msgs   chan Message
}

// join starts a node with its own Redis client, as a separate process
// would have, and stops it when the test ends.
func (e *env) join(t testing.TB, id string, edit ...func(*Config)) *node {
	t.Helper()
	n, err := e.tryJoin(t, id, edit...)
	if err != nil {
		t.Fatalf("join %q: %v", id, err)
	}
	return n
}

func (e *env) tryJoin(t testing.TB, id string, edit ...func(*Config)) (*node, error) {
	t.Helper()
	client := e.newClient()
	t.Cleanup(func() { client.Close() })
	n := &node{events: make(chan event, 4096), msgs: make(chan Message, 1<<16)}
	cfg := Config{
		Client: client, NodeID: id, Prefix: e.prefix, Lease: testLease, Sealer: e.sealer,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Hooks: Hooks{
			NodeUp:   func(id string) { n.events <- event{kind: "up", id: id} },
			NodeDown: func(id string, r DownReason) { n.events <- event{kind: "down", id: id, down: r} },
			Fenced:   func(r FenceReason) { n.events <- event{kind: "fenced", fence: r} },
			Message:  func(m Message) { n.msgs <- m },
		},
	}
	for _, f := range edit {
		f(&cfg)
	}
	if cfg.Hooks.Reclaim == nil {
		cfg.Hooks.Reclaim = func(ctx context.Context) { n.events <- event{kind: "reclaim"} }
	}
	c, err := Join(t.Context(), cfg)
	if err != nil {
		return nil, err
	}
	n.Cluster = c
	t.Cleanup(c.Stop)
	return n, nil
}

// waitEvent returns the first event matching want, failing the test if
// none arrives in waitFor. Events before it are returned as skipped.
func (n *node) waitEvent(t testing.TB, want func(event) bool) (event, []event) {
	t.Helper()
	var skipped []event
	deadline := time.After(waitFor)
	for {
		select {
		case ev := <-n.events:
			if want(ev) {
				return ev, skipped
			}
			skipped = append(skipped, ev)
		case <-deadline:
			t.Fatalf("node %s: no matching event in %v; saw %+v", n.ID(), waitFor, skipped)
		}
	}
}

func is(kind, id string) func(event) bool {
	return func(ev event) bool { return ev.kind == kind && ev.id == id }
}

// recv returns the next message, failing the test if none arrives.
func (n *node) recv(t *testing.T) Message {
	t.Helper()
	select {
	case m := <-n.msgs:
		return m
	case <-time.After(waitFor):
		t.Fatalf("node %s: no message in %v", n.ID(), waitFor)
		return Message{}
	}
}

// eventually polls cond until it holds, failing the test after waitFor.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", waitFor, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nickKey stands for the keyed hash the server passes: opaque hex.
func nickKey(i int) string { return fmt.Sprintf("%032x", i+1) }
