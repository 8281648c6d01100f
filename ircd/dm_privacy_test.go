package ircd

import (
	"context"
	"slices"
	"testing"
	"time"

	"securechat/ircd/history"
	"securechat/store/redistest"
)

// renameTo changes c's nick and waits for the server's NICK echo.
func (c *testClient) renameTo(nick string) {
	c.T().Helper()
	c.Send("NICK %s", nick)
	c.Expect(`NICK :?` + nick + `$`)
	c.Nick = nick
}

// TestDirectHistoryKeyedToAccounts: alice (account alice) and bob
// (account bobby, using the unregistered nick bob) exchange private
// messages and both read them back. Once bob has gone, carol's account
// takes the nick bob, and then a client with no account does: neither
// finds any of alice and bob's conversation, through CHATHISTORY or
// TARGETS, and alice asking for "bob" gets carol's (empty) conversation.
// Opened directly, the stored records open only with the alice–bobby
// pair key, not with the key carol's session uses, and the store holds
// no account name or text in clear. After a restart alice finds the
// conversation again, listed under bob's account name.
func TestDirectHistoryKeyedToAccounts(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t, redistest.WithArgs("--rdbcompression", "no"))
	ts := env.server(t, withAccounts())
	alice := ts.registerAccount("alice", personalPassword, fullCaps...)
	bob := ts.registerAccount("bobby", personalPassword, fullCaps...)
	bob.renameTo("bob")
	alice.say("bob", "dmqz8 from alice")
	bob.Expect(`PRIVMSG bob :dmqz8 from alice$`)
	bob.say("alice", "dmqz8 from bob")
	alice.Expect(`PRIVMSG alice :dmqz8 from bob$`)
	both := []string{"dmqz8 from alice", "dmqz8 from bob"}
	for _, tc := range []struct {
		c    *testClient
		peer string
	}{{alice, "bob"}, {bob, "alice"}} {
		tc.c.Send("CHATHISTORY LATEST %s * 10", tc.peer)
		if got := texts(tc.c.historyBatch()); !slices.Equal(got, both) {
			t.Fatalf("%s's history with %s = %q, want %q", tc.c.Nick, tc.peer, got, both)
		}
	}
	bob.quit()

	// Carol's session holds the nick bob now; nick ownership plays no
	// part, since nobody registered it.
	carol := ts.registerAccount("carol", personalPassword, fullCaps...)
	carol.renameTo("bob")
	carol.Send("CHATHISTORY LATEST alice * 10")
	if got := carol.historyBatch(); len(got) != 0 {
		t.Fatalf("carol holding nick bob reads %q of alice's history with bob", texts(got))
	}
	alice.Send("CHATHISTORY LATEST bob * 10")
	if got := alice.historyBatch(); len(got) != 0 {
		t.Fatalf("alice asking for bob (now carol) gets %q", texts(got))
	}
	const from, to = "timestamp=2000-01-01T00:00:00.000Z", "timestamp=2100-01-01T00:00:00.000Z"
	carol.Send("CHATHISTORY TARGETS %s %s 10", from, to)
	if got := targetNames(carol); len(got) != 0 {
		t.Fatalf("carol's TARGETS = %q", got)
	}
	alice.Send("CHATHISTORY TARGETS %s %s 10", from, to)
	if got := targetNames(alice); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("alice's TARGETS = %q, want her conversation with bob", got)
	}
	carol.quit()
	guest := ts.registerPass("bob")
	guest.Send("CAP REQ :batch draft/chathistory")
	guest.Expect(`CAP \S+ ACK`)
	guest.Send("CHATHISTORY LATEST alice * 10")
	if got := guest.historyBatch(); len(got) != 0 {
		t.Fatalf("a guest holding nick bob reads %q", texts(got))
	}

	ts.flushHistory()
	assertPairRecords(t, ts, 2)
	env.assertNoMarker(t, []string{"dmqz8", "bobby", "carol", "alice"})

	// After a restart, alice finds the conversation again under bob's
	// account name, which stands for his account.
	ts.shutdown()
	alice = env.server(t, withAccounts()).loginAccount("alice", "alice", personalPassword, fullCaps...)
	var got []string
	// The start-up scan runs in the background: ask until it is over.
	for deadline := time.Now().Add(5 * time.Second); len(got) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		alice.Send("CHATHISTORY TARGETS %s %s 10", from, to)
		got = targetNames(alice)
	}
	if !slices.Equal(got, []string{"bobby"}) {
		t.Fatalf("alice's TARGETS after a restart = %q, want bob's account", got)
	}
	alice.Send("CHATHISTORY LATEST bobby * 10")
	if got := texts(alice.historyBatch()); !slices.Equal(got, both) {
		t.Fatalf("alice's history with bobby after a restart = %q", got)
	}
}

// assertPairRecords opens the store directly: the alice–bobby
// conversation holds n records, each opening with that pair's key and
// with neither the key carol's session would use nor the nicks' key.
func assertPairRecords(t *testing.T, ts *testServer, n int) {
	t.Helper()
	h := ts.srv.history
	pair := h.PairKey("alice", "bobby")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recs, err := ts.store.Query(ctx, pair, history.Query{Limit: 100})
	if err != nil || len(recs) != n {
		t.Fatalf("alice–bobby records in the store: %d, %v; want %d", len(recs), err, n)
	}
	others := map[string]string{
		"carol's session":  h.PairKey("alice", "carol"),
		"the nicks' key":   h.DirectKey("alice", "bob"),
		"bobby's nick key": h.DirectKey("alice", "bobby"),
	}
	for _, r := range recs {
		if _, err := ts.vault.Open(pair, r.ID, r.Time, r.Data); err != nil {
			t.Errorf("record %s does not open with the alice–bobby key: %v", r.ID, err)
		}
		for who, key := range others {
			if _, err := ts.vault.Open(key, r.ID, r.Time, r.Data); err == nil {
				t.Errorf("record %s opens with %s", r.ID, who)
			}
		}
	}
	for who, key := range others {
		if recs, _ := ts.store.Query(ctx, key, history.Query{Limit: 10}); len(recs) != 0 {
			t.Errorf("%d records stored under %s", len(recs), who)
		}
	}
}

// TestRedactDirectBetweenAccounts: a private message between accounts is
// redacted from the accounts' conversation, which is where REDACT looks.
func TestRedactDirectBetweenAccounts(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	alice := ts.registerAccount("alice", personalPassword, redactCaps...)
	bob := ts.registerAccount("bob", personalPassword, redactCaps...)
	kept := "kept words"
	alice.say("bob", kept)
	dm := alice.say("bob", "regretted words").Tags["msgid"]
	alice.Send("REDACT bob %s", dm)
	alice.Expect(` REDACT bob ` + dm + `$`)
	bob.Expect(`:alice!\S+ REDACT bob ` + dm)
	if got := bob.historyTexts("alice"); !slices.Equal(got, []string{kept}) {
		t.Errorf("bob's history with alice = %q after REDACT, want only %q", got, kept)
	}
	if ids := ts.storedIDsUnder(ts.srv.history.PairKey("alice", "bob")); len(ids) != 1 {
		t.Errorf("the accounts' conversation holds %d records, want 1", len(ids))
	}
}
