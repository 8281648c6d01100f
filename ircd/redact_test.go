package ircd

import (
	"context"
	"slices"
	"strings"
	"testing"

	"securechat/config"
	"securechat/store"
)

var redactCaps = []string{"batch", "server-time", "message-tags", "echo-message", "draft/chathistory", "draft/message-redaction", "labeled-response"}

// storedIDs returns the msgids stored for target, read from the store
// itself.
func (ts *testServer) storedIDs(target string) []string {
	ts.t.Helper()
	return ts.storedIDsUnder(ts.srv.history.Key(target))
}

// storedIDsUnder returns the msgids stored under the store key key.
func (ts *testServer) storedIDsUnder(key string) []string {
	ts.t.Helper()
	ts.flushHistory()
	recs, err := ts.store.Query(context.Background(), key, store.Query{Limit: 100})
	if err != nil {
		ts.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

// historyTexts asks CHATHISTORY LATEST for target and returns the texts.
func (c *testClient) historyTexts(target string) []string {
	c.T().Helper()
	c.Send("CHATHISTORY LATEST %s * 50", target)
	return texts(c.historyBatch())
}

// The sender redacts its message: members with the capability are told,
// others are not, and the message is gone from the store, the JOIN replay
// and CHATHISTORY, while the rest stays.
func TestRedactOwnMessage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	op := ts.register("op", redactCaps...)
	alice := ts.register("alice", redactCaps...)
	bob := ts.register("bob", "message-tags", "draft/message-redaction")
	plain := ts.register("plain")
	for _, c := range []*testClient{op, alice, bob, plain} {
		c.Join("#r")
	}
	gone := alice.say("#r", "oops secret").Tags["msgid"]
	kept := alice.say("#r", "keep this").Tags["msgid"]
	if ids := ts.storedIDs("#r"); !slices.Equal(ids, []string{gone, kept}) {
		t.Fatalf("stored %v before REDACT, want both messages", ids)
	}

	alice.Send("@label=R REDACT #r %s :typo", gone)
	echo := alice.Expect(` REDACT #r `)
	if echo.Tags["label"] != "R" || echo.Params[1] != gone || echo.Trailing() != "typo" {
		t.Errorf("sender's REDACT %v, want the label, %s and the reason", echo, gone)
	}
	got := bob.Expect(` REDACT #r `)
	if got.Prefix.Name != "alice" || got.Params[1] != gone || got.Tags["msgid"] == "" {
		t.Errorf("bob's REDACT %v, want alice's for %s with a msgid", got, gone)
	}
	for _, l := range plain.Sync() {
		if strings.Contains(l, "REDACT") {
			t.Errorf("a client without the capability got %q", l)
		}
	}

	if ids := ts.storedIDs("#r"); !slices.Equal(ids, []string{kept}) {
		t.Errorf("stored %v after REDACT, want only %s", ids, kept)
	}
	if got := alice.historyTexts("#r"); !slices.Equal(got, []string{"keep this"}) {
		t.Errorf("CHATHISTORY = %q, want only the kept message", got)
	}
	late := ts.register("late", "batch", "message-tags", "server-time")
	late.Join("#r")
	if got := texts(late.historyBatch()); !slices.Equal(got, []string{"keep this"}) {
		t.Errorf("JOIN replay = %q, want only the kept message", got)
	}

	alice.Send("REDACT #r %s", gone)
	alice.Expect(` FAIL REDACT UNKNOWN_MSGID #r ` + gone + ` `)
}

// Who may redact what, and the FAIL for everything else.
func TestRedactPermissions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	op := ts.register("op", redactCaps...)
	alice := ts.register("alice", redactCaps...)
	bob := ts.register("bob", redactCaps...)
	outsider := ts.register("outsider", redactCaps...)
	op.Join("#p")
	alice.Join("#p")
	bob.Join("#p")
	outsider.Join("#elsewhere")
	mine := alice.say("#p", "alice's words").Tags["msgid"]
	bobs := bob.say("#p", "spam spam").Tags["msgid"]
	dm := alice.say("bob", "private words").Tags["msgid"]

	cases := []struct {
		name string
		c    *testClient
		line string
		want string
	}{
		{"another member's message", bob, "REDACT #p " + mine, ` FAIL REDACT REDACT_FORBIDDEN #p ` + mine + ` `},
		{"a channel c is not in", outsider, "REDACT #p " + mine, ` FAIL REDACT INVALID_TARGET #p `},
		{"a channel that does not exist", alice, "REDACT #nowhere " + mine, ` FAIL REDACT INVALID_TARGET #nowhere `},
		{"a msgid that is not one", alice, "REDACT #p notamsgid", ` FAIL REDACT UNKNOWN_MSGID #p notamsgid `},
		{"a message of another target", alice, "REDACT #elsewhere " + mine, ` FAIL REDACT INVALID_TARGET #elsewhere `},
		{"the other side's private message", bob, "REDACT alice " + dm, ` FAIL REDACT REDACT_FORBIDDEN alice ` + dm + ` `},
		{"the sender redacts a private message", alice, "REDACT bob " + dm, `^@\S+ :alice!\S+ REDACT bob ` + dm + `$`},
		{"an operator redacts a member's message", op, "REDACT #p " + bobs + " :spam", ` REDACT #p ` + bobs + ` :?spam$`},
	}
	for _, tc := range cases {
		tc.c.Send("%s", tc.line)
		tc.c.Expect(tc.want)
	}
	// The operator's and the private redaction reached the others too.
	alice.Expect(` REDACT #p ` + bobs)
	bob.Expect(`:alice!\S+ REDACT bob ` + dm)
	if got := bob.historyTexts("alice"); len(got) != 0 {
		t.Errorf("bob's private history with alice = %q after REDACT, want none", got)
	}
	if got := alice.historyTexts("#p"); !slices.Equal(got, []string{"alice's words"}) {
		t.Errorf("#p history = %q, want only alice's message", got)
	}
}

// On Redis, a redacted record is deleted from the stream: a new server on
// the same store replays and returns nothing of it, and with no replay
// ring the message is found and deleted through the store alone.
func TestRedactDeletesFromRedis(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t)
	ts := env.server(t)
	alice := ts.register("alice", redactCaps...)
	alice.Join("#x")
	first := alice.say("#x", "redactqz7 first").Tags["msgid"]
	second := alice.say("#x", "redactqz7 second").Tags["msgid"]
	alice.say("#x", "stays")
	alice.Send("REDACT #x %s", first)
	alice.Expect(` REDACT #x ` + first)
	ts.flushHistory()

	ts2 := env.server(t, withConfig(func(c *config.Config) { c.Replay = 0 }))
	alice2 := ts2.register("alice", redactCaps...)
	alice2.Join("#x")
	alice2.Send("REDACT #x %s", second)
	alice2.Expect(` REDACT #x ` + second)
	if got := alice2.historyTexts("#x"); !slices.Equal(got, []string{"stays"}) {
		t.Errorf("CHATHISTORY = %q, want only the unredacted message", got)
	}
	for key, value := range dumpRedis(t, env.redis.Client()) {
		for _, id := range []string{first, second} {
			if strings.Contains(string(value), id) {
				t.Errorf("%s still holds redacted msgid %s", key, id)
			}
		}
	}

	ts3 := env.server(t)
	bob := ts3.register("bob", "batch", "message-tags", "server-time")
	bob.Join("#x")
	if got := texts(bob.historyBatch()); !slices.Equal(got, []string{"stays"}) {
		t.Errorf("JOIN replay from Redis = %q, want only the unredacted message", got)
	}
}

// A multiline message is one record: redacting its msgid removes every
// line of it from the store and from history.
func TestRedactMultiline(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", append([]string{"draft/multiline"}, redactCaps...)...)
	alice.Join("#rm")
	alice.sendMultiline("m", "", "#rm", "one", "two")
	open, _ := alice.multilineBatch()
	msgid := open.Tags["msgid"]
	if ids := ts.storedIDs("#rm"); !slices.Equal(ids, []string{msgid}) {
		t.Fatalf("stored %v, want the batch as one record %s", ids, msgid)
	}
	alice.Send("REDACT #rm %s", msgid)
	alice.Expect(` REDACT #rm ` + msgid)
	if ids := ts.storedIDs("#rm"); len(ids) != 0 {
		t.Errorf("stored %v after REDACT, want none", ids)
	}
	if got := alice.historyTexts("#rm"); len(got) != 0 {
		t.Errorf("CHATHISTORY = %q after REDACT, want nothing", got)
	}
}
