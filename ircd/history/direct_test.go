package history

import (
	"testing"
	"time"
)

// TestAppendDirectBetweenAccounts stores a message between two logged-in
// parties under their accounts' pair key, sealed so that only that key
// opens it; the nicks' conversation stays empty, and TARGETS lists it
// under the accounts, not under either nick.
func TestAppendDirectBetweenAccounts(t *testing.T) {
	t.Parallel()
	st := newMemory()
	h, _ := newTestHistory(t, newTestVault(t), st)
	at := baseTime()
	alice, bob := Party{Nick: "alice", Account: "acct-a"}, Party{Nick: "bob", Account: "acct-b"}
	h.AppendDirect(alice, bob, msgEntry(t, "d1", at, ":alice!a@h PRIVMSG bob :between accounts"))
	h.AppendDirect(alice, Party{Nick: "bob"}, msgEntry(t, "d2", at.Add(time.Second), ":alice!a@h PRIVMSG bob :to a nick"))
	ctx := testContext(t, 5*time.Second)
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	pair := h.PairKey("acct-b", "acct-a") // either order
	es, err := h.Read(ctx, pair, Query{Limit: 10})
	if err != nil || len(es) != 1 || es[0].Msg.Trailing() != "between accounts" {
		t.Fatalf("pair conversation = %v, %v; want the one message between accounts", es, err)
	}
	es, err = h.Read(ctx, h.DirectKey("alice", "bob"), Query{Limit: 10})
	if err != nil || len(es) != 1 || es[0].Msg.Trailing() != "to a nick" {
		t.Fatalf("nick conversation = %v, %v; want only the message to a nick", es, err)
	}

	recs, err := st.Query(ctx, pair, Query{Limit: 10})
	if err != nil || len(recs) != 1 {
		t.Fatalf("stored pair records = %d, %v", len(recs), err)
	}
	r := recs[0]
	if _, err := h.vault.Open(h.PairKey("acct-a", "acct-c"), r.ID, r.Time, r.Data); err == nil {
		t.Error("the pair record opened with another account pair's key")
	}
	if _, err := h.vault.Open(pair, r.ID, r.Time, r.Data); err != nil {
		t.Errorf("the pair record does not open with its pair's key: %v", err)
	}

	wide := [2]time.Time{at.Add(-time.Hour), at.Add(time.Hour)}
	if got := h.Targets([]string{AccountOwner("acct-b")}, wide[0], wide[1]); !sameActivity(got, []Activity{{"alice", at}}) {
		t.Errorf("account b's targets = %v", got)
	}
	if got := h.Targets([]string{"bob"}, wide[0], wide[1]); !sameActivity(got, []Activity{{"alice", at.Add(time.Second)}}) {
		t.Errorf("nick bob's targets = %v; want only the nick conversation", got)
	}
}

// TestClaimPairsAfterRestart: after a restart the start-up scan cannot
// tell whose a pair conversation is; once either account asks, it is
// listed for both, each naming the other by account, and for no one
// else.
func TestClaimPairsAfterRestart(t *testing.T) {
	t.Parallel()
	st, v := newMemory(), newTestVault(t)
	first, _ := newTestHistory(t, v, st)
	at := baseTime().Add(-time.Minute)
	first.AppendDirect(Party{Nick: "alice", Account: "acct-a"}, Party{Nick: "bob", Account: "acct-b"},
		msgEntry(t, "d1", at, ":alice!a@h PRIVMSG bob :hi"))
	closeHistory(t, first)

	second, _ := newTestHistory(t, v, st)
	eventually(t, "the start-up scan", func() bool {
		second.index.mu.Lock()
		defer second.index.mu.Unlock()
		return second.index.pairs.warmed
	})
	lo, hi := at.Add(-time.Hour), at.Add(time.Hour)
	if got := second.Targets([]string{AccountOwner("acct-a"), "alice"}, lo, hi); len(got) != 0 {
		t.Fatalf("before a claim, targets = %v", got)
	}
	second.ClaimPairs("acct-c", func() []string { return []string{"acct-a", "acct-b"} })
	if got := second.Targets([]string{AccountOwner("acct-c")}, lo, hi); len(got) != 0 {
		t.Fatalf("a third account claimed %v", got)
	}
	second.ClaimPairs("Acct-A", func() []string { return []string{"acct-c", "Acct-B"} })
	for owner, want := range map[string][]Activity{
		AccountOwner("acct-a"): {{"Acct-B", at}},
		AccountOwner("acct-b"): {{"Acct-A", at}},
		"alice":                nil,
		"bob":                  nil,
	} {
		if got := second.Targets([]string{owner}, lo, hi); !sameActivity(got, want) {
			t.Errorf("%s: targets = %v, want %v", owner, got, want)
		}
	}
}
