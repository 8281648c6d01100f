package cluster

import (
	"errors"
	"slices"
	"testing"
)

func testMembershipUpAndLeft(t *testing.T, e *env) {
	a, b := e.join(t, "a"), e.join(t, "b")
	nodes, err := a.Nodes(t.Context())
	if err != nil || !slices.Equal(nodes, []string{"a", "b"}) {
		t.Fatalf("Nodes = %v, %v; want [a b]", nodes, err)
	}
	a.waitEvent(t, is("up", "b"))
	b.waitEvent(t, is("up", "a"))
	eventually(t, "a renews its lease", func() bool { return a.Stats().LeaseRenewals > 0 })
	if ok, err := b.ClaimNick(t.Context(), nickKey(1)); !ok || err != nil {
		t.Fatalf("b claims: %v %v", ok, err)
	}
	if err := b.Leave(t.Context()); err != nil {
		t.Fatal(err)
	}
	if owner, _ := a.NickOwner(t.Context(), nickKey(1)); owner != "" {
		t.Errorf("after Leave the nick still belongs to %q", owner)
	}
	if _, err := b.ClaimNick(t.Context(), nickKey(2)); !errors.Is(err, ErrClosed) {
		t.Errorf("claim after Leave: %v, want ErrClosed", err)
	}
	ev, _ := a.waitEvent(t, is("down", "b"))
	if ev.down != DownLeft {
		t.Errorf("b's NodeDown reason = %v, want left", ev.down)
	}
	if nodes, _ := a.Nodes(t.Context()); !slices.Equal(nodes, []string{"a"}) {
		t.Errorf("after b left, Nodes = %v", nodes)
	}
	if s := a.Stats(); s.NodesSeen != 1 || s.GuardsTripped != 0 {
		t.Errorf("a's stats = %+v, want 1 node seen, no guard tripped", s)
	}
}

func testCrashedNodeExpires(t *testing.T, e *env) {
	a, b := e.join(t, "a"), e.join(t, "b")
	if ok, err := b.ClaimNick(t.Context(), nickKey(1)); !ok || err != nil {
		t.Fatalf("b claims: %v %v", ok, err)
	}
	a.waitEvent(t, is("up", "b"))
	b.Stop() // a crash: no Leave
	ev, _ := a.waitEvent(t, is("down", "b"))
	if ev.down != DownExpired {
		t.Errorf("reason = %v, want expired", ev.down)
	}
	if owner, _ := a.NickOwner(t.Context(), nickKey(1)); owner != "" {
		t.Errorf("dead b still owns the nick: %q", owner)
	}
	if ok, err := a.ClaimNick(t.Context(), nickKey(1)); !ok || err != nil {
		t.Errorf("a cannot take the dead node's nick: %v %v", ok, err)
	}
	// Its id is free again once its lease ran out.
	e.join(t, "b")
	a.waitEvent(t, is("up", "b"))
}

// testFencedWhenLeaseDeleted removes a's registration behind its back, as
// a peer's reap would after a long pause: a must learn that it lost its
// lease, refuse claims meanwhile, register again and reclaim; b must see
// the old incarnation go.
func testFencedWhenLeaseDeleted(t *testing.T, e *env) {
	a, b := e.join(t, "a"), e.join(t, "b")
	b.waitEvent(t, is("up", "a"))
	n := names{e.prefix}
	if err := e.raw.ZRem(t.Context(), n.registry(), "a").Err(); err != nil {
		t.Fatal(err)
	}
	// Before a has noticed anything, Redis itself refuses its claims.
	if _, err := a.ClaimNick(t.Context(), nickKey(7)); !errors.Is(err, ErrFenced) {
		t.Errorf("claim without a lease: %v, want ErrFenced", err)
	}
	ev, _ := a.waitEvent(t, func(ev event) bool { return ev.kind == "fenced" })
	if ev.fence != FenceLeaseLost {
		t.Errorf("fence reason = %v, want lease lost", ev.fence)
	}
	a.waitEvent(t, func(ev event) bool { return ev.kind == "reclaim" })
	if got := a.Stats().GuardsTripped; got != 1 {
		t.Errorf("GuardsTripped = %d, want 1", got)
	}
	if ok, err := a.ClaimNick(t.Context(), nickKey(7)); !ok || err != nil {
		t.Errorf("claim after re-registering: %v %v", ok, err)
	}
	ev, _ = b.waitEvent(t, is("down", "a"))
	if ev.down != DownReplaced {
		t.Errorf("b saw a go with %v, want replaced", ev.down)
	}
	b.waitEvent(t, is("up", "a"))
}

func testNodeIDInUse(t *testing.T, e *env) {
	e.join(t, "same")
	if _, err := e.tryJoin(t, "same"); !errors.Is(err, ErrNodeIDInUse) {
		t.Fatalf("second Join with a live id: %v, want ErrNodeIDInUse", err)
	}
	if _, err := e.tryJoin(t, "bad{tag}"); !errors.Is(err, ErrBadKey) {
		t.Fatalf("Join with a brace in the id: %v, want ErrBadKey", err)
	}
}
