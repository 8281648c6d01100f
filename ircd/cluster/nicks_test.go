package cluster

import (
	"sync"
	"testing"
)

// testNickClaimRace has three nodes claim the same keys at once from many
// goroutines: every key must have exactly one winner, the one Redis names.
func testNickClaimRace(t *testing.T, e *env) {
	nodes := []*node{e.join(t, "a"), e.join(t, "b"), e.join(t, "c")}
	const keys, perNode = 200, 4
	var mu sync.Mutex
	winners := make(map[string][]string)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, n := range nodes {
		for range perNode {
			wg.Go(func() {
				<-start
				for i := range keys {
					ok, err := n.ClaimNick(t.Context(), nickKey(i))
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						mu.Lock()
						winners[nickKey(i)] = append(winners[nickKey(i)], n.ID())
						mu.Unlock()
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	for i := range keys {
		k := nickKey(i)
		w := winners[k]
		// A node's own goroutines may each succeed (claims are idempotent
		// per node), but never two nodes.
		for _, id := range w[1:] {
			if id != w[0] {
				t.Fatalf("key %d won by %v", i, w)
			}
		}
		if owner, err := nodes[0].NickOwner(t.Context(), k); err != nil || len(w) == 0 || owner != w[0] {
			t.Fatalf("key %d: winners %v, owner %q (%v)", i, w, owner, err)
		}
	}
}

func testNickRenameRelease(t *testing.T, e *env) {
	a, b := e.join(t, "a"), e.join(t, "b")
	ctx := t.Context()
	k1, k2 := nickKey(1), nickKey(2)
	steps := []struct {
		name string
		do   func() (bool, error)
		want bool
	}{
		{"a claims k1", func() (bool, error) { return a.ClaimNick(ctx, k1) }, true},
		{"b cannot claim k1", func() (bool, error) { return b.ClaimNick(ctx, k1) }, false},
		{"a renames k1 to k2", func() (bool, error) { return a.RenameNick(ctx, k1, k2) }, true},
		{"b claims the freed k1", func() (bool, error) { return b.ClaimNick(ctx, k1) }, true},
		{"a cannot rename onto b's k1", func() (bool, error) { return a.RenameNick(ctx, k2, k1) }, false},
		{"b's release of a's k2 does nothing", func() (bool, error) { return true, b.ReleaseNick(ctx, k2) }, true},
		{"b cannot claim a's k2", func() (bool, error) { return b.ClaimNick(ctx, k2) }, false},
		{"a releases k2", func() (bool, error) { return true, a.ReleaseNick(ctx, k2) }, true},
		{"b claims k2", func() (bool, error) { return b.ClaimNick(ctx, k2) }, true},
	}
	for _, s := range steps {
		got, err := s.do()
		if err != nil || got != s.want {
			t.Fatalf("%s: got %v, %v; want %v", s.name, got, err, s.want)
		}
	}
	for k, want := range map[string]string{k1: "b", k2: "b"} {
		if owner, _ := a.NickOwner(ctx, k); owner != want {
			t.Errorf("owner of %s = %q, want %q", k, owner, want)
		}
	}
	if _, err := a.ClaimNick(ctx, "a}b"); err == nil {
		t.Error("a key with a brace was accepted")
	}
}
