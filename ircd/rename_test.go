package ircd

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/irc.v4"

	"securechat/store/redistest"
)

var renameCaps = append(slices.Clone(fullCaps), "draft/channel-rename")

// TestRenameMovesHistoryAndState renames a channel on a real Redis:
// members with the capability see RENAME, the others PART and JOIN; a
// later joiner and CHATHISTORY on the new name get the old messages,
// addressed to the new name; the old name has none; the topic moved;
// nothing in the clear reached Redis; a restart keeps all of it.
func TestRenameMovesHistoryAndState(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t, redistest.WithArgs("--rdbcompression", "no"))
	ts := env.server(t)
	alice := ts.register("alice", renameCaps...)
	bob := ts.register("bob", "multi-prefix")
	alice.Join("#old")
	bob.Join("#old")
	alice.Expect(`JOIN #old`)
	alice.Send("TOPIC #old :topic that moves")
	alice.Expect(`TOPIC #old`)
	var sent []*irc.Message
	for i := range 3 {
		sent = append(sent, alice.say("#old", fmt.Sprintf("before rename %d", i)))
	}
	bob.Expect(`PRIVMSG #old :before rename 2`)

	alice.Send("RENAME #old #renamedqz8 :tidy up")
	alice.Expect(`:alice!\S+ RENAME #old #renamedqz8 :tidy up$`)
	bob.Expect(`^:bob!\S+ PART #old :tidy up$`)
	bob.Expect(`^:bob!\S+ JOIN #renamedqz8$`)
	bob.Expect(` 332 bob #renamedqz8 :topic that moves$`)
	bob.Expect(` 333 bob #renamedqz8 alice`)
	if names := bob.Expect(` 353 bob = #renamedqz8 `).Trailing(); names != "@alice bob" && names != "bob @alice" {
		t.Errorf("NAMES after rename = %q, want @alice and bob", names)
	}
	bob.Expect(` 366 bob #renamedqz8 `)
	sent = append(sent, alice.say("#renamedqz8", "after rename"))
	bob.Expect(`PRIVMSG #renamedqz8 :after rename`)

	carol := ts.register("carol", replayCaps...)
	assertTopicIn(t, carol.Join("#renamedqz8"), " 332 carol #renamedqz8 :topic that moves")
	assertReplay(t, carol.historyBatch(), "#renamedqz8", sent)
	carol.Send("CHATHISTORY LATEST #renamedqz8 * 10")
	assertReplay(t, carol.historyBatch(), "#renamedqz8", sent)

	carol.Join("#old")
	carol.Send("CHATHISTORY LATEST #old * 10")
	if got := carol.historyBatch(); len(got) != 0 {
		t.Errorf("the old name still has history: %v", texts(got))
	}
	ts.flushHistory()
	markers := []string{"#renamedqz8", "renamedqz8", "before rename", "topic that moves"}
	for key, value := range dumpRedis(t, env.redis.Client()) {
		assertNoMarker(t, "key "+key, []byte(key), markers)
		assertNoMarker(t, "value of "+key, value, markers)
	}
	ts.shutdown()

	ts2 := env.server(t)
	dave := ts2.register("dave", replayCaps...)
	assertTopicIn(t, dave.Join("#renamedqz8"), " 332 dave #renamedqz8 :topic that moves")
	assertReplay(t, dave.historyBatch(), "#renamedqz8", sent)
	dave.Send("JOIN #old")
	dave.Expect(` 366 dave #old `)
	dave.Send("CHATHISTORY LATEST #old * 10")
	if got := dave.historyBatch(); len(got) != 0 {
		t.Errorf("after a restart the old name has history: %v", texts(got))
	}
}

func assertTopicIn(t *testing.T, lines []string, want string) {
	t.Helper()
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, want) }) {
		t.Errorf("join burst %q lacks %q", lines, want)
	}
}

// assertReplay checks replayed messages are sent's, in order, with their
// msgids, times and texts, addressed to target.
func assertReplay(t *testing.T, got []*irc.Message, target string, sent []*irc.Message) {
	t.Helper()
	if len(got) != len(sent) {
		t.Fatalf("replayed %q, want %d messages", texts(got), len(sent))
	}
	for i, m := range got {
		w := sent[i]
		if m.Params[0] != target || m.Tags["msgid"] != w.Tags["msgid"] || m.Tags["time"] != w.Tags["time"] || m.Trailing() != w.Trailing() {
			t.Errorf("replay[%d] = %v, want %s msgid %s time %s %q", i, m, target, w.Tags["msgid"], w.Tags["time"], w.Trailing())
		}
	}
}

// TestRenameRefusals covers who may rename what, with the replies the
// spec names.
func TestRenameRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	op := ts.register("op", "draft/channel-rename", "standard-replies")
	user := ts.register("user", "draft/channel-rename")
	op.Join("#a")
	op.Join("#taken")
	user.Join("#a")
	op.Expect(`JOIN #a`)
	cases := []struct {
		name string
		c    *testClient
		line string
		want string
	}{
		{"not enough parameters", op, "RENAME #a", ` 461 op RENAME `},
		{"no such channel", op, "RENAME #nope #b", ` 403 op #nope `},
		{"not an operator", user, "RENAME #a #b", ` 482 user #a `},
		{"not a member", user, "RENAME #taken #b", ` 442 user #taken `},
		{"name in use", op, "RENAME #a #TAKEN", `FAIL RENAME CHANNEL_NAME_IN_USE #a #TAKEN :`},
		{"invalid name", op, "RENAME #a bad", `FAIL RENAME CANNOT_RENAME #a bad :`},
	}
	for _, tc := range cases {
		tc.c.Send("%s", tc.line)
		tc.c.Expect(tc.want)
	}
	// Nothing changed: #a is still #a, with both members.
	op.Send("NAMES #a")
	if names := op.Expect(` 353 op = #a `).Trailing(); len(strings.Fields(names)) != 2 {
		t.Errorf("NAMES #a after refusals = %q", names)
	}
}

// TestRenameCaseOnly checks a change of case renames for clients with
// the capability and sends the others nothing, as the spec asks.
func TestRenameCaseOnly(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	op := ts.register("op", "draft/channel-rename")
	plain := ts.register("plain")
	op.Join("#case")
	plain.Join("#case")
	op.Expect(`JOIN #case`)
	op.Send("RENAME #case #CASE")
	op.Expect(`RENAME #case #CASE :$`)
	plain.Quiet(`PART|JOIN`, 200*time.Millisecond)
	op.Send("NAMES #case")
	op.Expect(` 353 op = #CASE `)
}

// TestRenameOldNameIsFree checks the old name can be used again at once
// and that the new and old channels are apart: a message to one does not
// reach the other's members, and the moved history stays with the
// renamed channel even though the new #a writes under the old key.
func TestRenameOldNameIsFree(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", renameCaps...)
	alice.Join("#a")
	alice.say("#a", "first")
	alice.Send("RENAME #a #b")
	alice.Expect(`RENAME #a #b`)
	bob := ts.register("bob", replayCaps...)
	bob.Join("#a")
	bob.Quiet(`BATCH`, 100*time.Millisecond)
	bob.say("#a", "in the new #a")
	alice.say("#b", "in #b")
	bob.Quiet(`in #b`, 100*time.Millisecond)
	bob.Send("PART #a")
	bob.Join("#b")
	if got := texts(bob.historyBatch()); !slices.Equal(got, []string{"first", "in #b"}) {
		t.Errorf("#b replays %q, want first and in #b", got)
	}
	carol := ts.register("carol", replayCaps...)
	carol.Join("#a")
	if got := texts(carol.historyBatch()); !slices.Equal(got, []string{"in the new #a"}) {
		t.Errorf("#a replays %q, want only the new #a's message", got)
	}
}
