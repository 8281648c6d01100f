package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestRedisRestart restarts Redis without persistence, so it comes back
// empty: the nodes must notice, register again under the same
// incarnation (peers see no one leave), reclaim their nicks through the
// hook, and go-redis must resubscribe so messages flow again.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	e := singleBackend(t).env(t)
	// A longer lease, so the restart fits well inside it.
	long := func(c *Config) { c.Lease = 3 * time.Second }
	k := nickKey(1)
	var a *node
	reclaimed := make(chan bool, 16)
	a = e.join(t, "a", long, func(c *Config) {
		c.Hooks.Reclaim = func(ctx context.Context) {
			ok, err := a.ClaimNick(ctx, k)
			reclaimed <- ok && err == nil
		}
	})
	b := e.join(t, "b", long)
	b.waitEvent(t, is("up", "a"))
	if ok, err := a.ClaimNick(t.Context(), k); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	subscribe(t, b, chanKey)

	e.server.Restart()

	select {
	case ok := <-reclaimed:
		if !ok {
			t.Fatal("a could not reclaim its nick")
		}
	case <-time.After(waitFor):
		t.Fatal("a never reclaimed")
	}
	if owner, err := b.NickOwner(t.Context(), k); owner != "a" || err != nil {
		t.Errorf("after the restart the nick belongs to %q (%v)", owner, err)
	}
	eventually(t, "both nodes see the reset", func() bool { return a.Stats().Resets > 0 && b.Stats().Resets > 0 })
	eventually(t, "go-redis resubscribes b", func() bool { return b.Stats().Resubscribes > 0 })
	if err := a.Publish(chanKey, []byte("after restart")); err != nil {
		t.Fatal(err)
	}
	if m := b.recv(t); string(m.Payload) != "after restart" {
		t.Fatalf("b got %q", m.Payload)
	}
	b.waitEvent(t, func(ev event) bool { return ev.kind == "reclaim" })
	nodes, err := a.Nodes(t.Context())
	if err != nil || len(nodes) != 2 {
		t.Errorf("Nodes after the restart = %v, %v", nodes, err)
	}
	for _, n := range []*node{a, b} {
		for len(n.events) > 0 {
			if ev := <-n.events; ev.kind == "down" || ev.kind == "fenced" {
				t.Errorf("%s saw %+v: a restart shorter than the lease must not drop anyone", n.ID(), ev)
			}
		}
	}
}

// TestFencedWhileRedisDown stops Redis for longer than a lease: each node
// must fence itself on its own clock (the split-brain guard), refuse nick
// claims meanwhile, and register again and reclaim once Redis is back.
func TestFencedWhileRedisDown(t *testing.T) {
	t.Parallel()
	e := singleBackend(t).env(t)
	a := e.join(t, "a")
	e.join(t, "b")
	a.waitEvent(t, is("up", "b"))

	e.server.Stop()
	ev, _ := a.waitEvent(t, func(ev event) bool { return ev.kind == "fenced" })
	if ev.fence != FenceUnreachable {
		t.Errorf("fence reason = %v, want unreachable", ev.fence)
	}
	if _, err := a.ClaimNick(t.Context(), nickKey(1)); !errors.Is(err, ErrFenced) {
		t.Errorf("claim while fenced: %v, want ErrFenced", err)
	}
	e.server.Restart()

	a.waitEvent(t, func(ev event) bool { return ev.kind == "reclaim" })
	if ok, err := a.ClaimNick(t.Context(), nickKey(1)); !ok || err != nil {
		t.Errorf("claim after rejoining: %v %v", ok, err)
	}
	if got := a.Stats().GuardsTripped; got != 1 {
		t.Errorf("GuardsTripped = %d, want 1", got)
	}
	// a forgot its peers when fenced; it learns of b again.
	a.waitEvent(t, is("up", "b"))
}

// TestJoinNeedsRESP2 keeps the guard against go-redis dropping RESP3
// pub/sub messages (see checkProtocol).
func TestJoinNeedsRESP2(t *testing.T) {
	t.Parallel()
	e := singleBackend(t).env(t)
	_, err := Join(t.Context(), Config{Client: redisClientRESP3(e), Sealer: e.sealer})
	if err == nil {
		t.Fatal("Join accepted a RESP3 client")
	}
}

// TestRedisClusterMasterRestart restarts, one at a time, every master of a
// 3-master Redis Cluster (each comes back empty, with its cluster
// identity): the subscription opened on it must be re-established and
// traffic through it flow again, and the registry, wherever its slot
// lives, must be rebuilt.
func TestRedisClusterMasterRestart(t *testing.T) {
	t.Parallel()
	b := clusterBackend(t)
	rc, e := b.cluster, b.env(t)
	long := func(c *Config) { c.Lease = 3 * time.Second }
	a, sub := e.join(t, "a", long), e.join(t, "sub", long)
	// One key per master, found by asking the cluster where each lands.
	keys := map[string]string{} // master addr -> key
	for i := 0; len(keys) < len(rc.Servers) && i < 1000; i++ {
		k := nickKey(i)
		m, err := rc.Client().MasterForKey(t.Context(), names{e.prefix}.channel(k))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := keys[m.Options().Addr]; !ok {
			keys[m.Options().Addr] = k
			subscribe(t, sub, k)
		}
	}
	for i, srv := range rc.Servers {
		k := keys[srv.Addr()]
		before := sub.Stats().Resubscribes
		srv.Restart()
		eventually(t, "the subscription on the restarted master comes back", func() bool {
			return sub.Stats().Resubscribes > before
		})
		payload := fmt.Sprintf("after restart %d", i)
		// The cluster may still be settling: publish until it arrives.
		eventually(t, "traffic through the restarted master", func() bool {
			if err := a.Publish(k, []byte(payload)); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-sub.msgs:
				return string(m.Payload) == payload
			case <-time.After(100 * time.Millisecond):
				return false
			}
		})
		for len(sub.msgs) > 0 {
			<-sub.msgs
		}
	}
	eventually(t, "both nodes registered", func() bool {
		nodes, err := a.Nodes(t.Context())
		return err == nil && len(nodes) == 2
	})
}
