package ircd

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/irc.v4"
)

// historyFixture is a server on Redis with alice in #h, where she said
// m0..m9, each in its own millisecond.
type historyFixture struct {
	ts    *testServer
	alice *testClient
	sent  []*irc.Message
}

func newHistoryFixture(t *testing.T) *historyFixture {
	t.Helper()
	ts := newRedisEnv(t).server(t)
	f := &historyFixture{ts: ts, alice: ts.register("alice", fullCaps...)}
	f.alice.Join("#h")
	for i := range 10 {
		f.sent = append(f.sent, f.alice.say("#h", fmt.Sprintf("m%d", i)))
		time.Sleep(2 * time.Millisecond)
	}
	return f
}

func (f *historyFixture) msgid(i int) string { return "msgid=" + f.sent[i].Tags["msgid"] }
func (f *historyFixture) stamp(i int) string { return "timestamp=" + f.sent[i].Tags["time"] }

func TestChathistorySubcommands(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	cases := []struct {
		name, args string
		want       []string
	}{
		{"latest star", "LATEST #h * 3", []string{"m7", "m8", "m9"}},
		{"latest msgid", "LATEST #h " + f.msgid(6) + " 100", []string{"m7", "m8", "m9"}},
		{"latest msgid limited", "LATEST #h " + f.msgid(2) + " 2", []string{"m8", "m9"}},
		{"latest timestamp", "LATEST #h " + f.stamp(7) + " 10", []string{"m8", "m9"}},
		{"before msgid", "BEFORE #h " + f.msgid(5) + " 2", []string{"m3", "m4"}},
		{"before timestamp", "BEFORE #h " + f.stamp(2) + " 10", []string{"m0", "m1"}},
		{"after msgid", "AFTER #h " + f.msgid(5) + " 2", []string{"m6", "m7"}},
		{"after timestamp", "AFTER #h " + f.stamp(7) + " 10", []string{"m8", "m9"}},
		{"around msgid", "AROUND #h " + f.msgid(5) + " 4", []string{"m3", "m4", "m5", "m6"}},
		{"around timestamp", "AROUND #h " + f.stamp(5) + " 3", []string{"m4", "m5", "m6"}},
		{"around one", "AROUND #h " + f.msgid(5) + " 1", []string{"m5"}},
		{"around start", "AROUND #h " + f.msgid(0) + " 4", []string{"m0", "m1", "m2", "m3"}},
		{"around end", "AROUND #h " + f.msgid(9) + " 4", []string{"m6", "m7", "m8", "m9"}},
		{"around odd", "AROUND #h " + f.msgid(5) + " 5", []string{"m3", "m4", "m5", "m6", "m7"}},
		{"between", "BETWEEN #h " + f.msgid(2) + " " + f.msgid(7) + " 10", []string{"m3", "m4", "m5", "m6"}},
		{"between limited", "BETWEEN #h " + f.msgid(2) + " " + f.msgid(7) + " 2", []string{"m3", "m4"}},
		{"between reversed", "BETWEEN #h " + f.msgid(7) + " " + f.msgid(2) + " 2", []string{"m5", "m6"}},
		{"between timestamps", "BETWEEN #h " + f.stamp(1) + " " + f.stamp(4) + " 10", []string{"m2", "m3"}},
		{"case-insensitive target", "LATEST #H * 1", []string{"m9"}},
		{"lower-case subcommand", "latest #h * 1", []string{"m9"}},
		{"nothing after", "AFTER #h " + f.msgid(9) + " 10", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.alice.Send("CHATHISTORY %s", tc.args)
			got := f.alice.historyBatch()
			if !slices.Equal(texts(got), tc.want) {
				t.Fatalf("CHATHISTORY %s = %q, want %q", tc.args, texts(got), tc.want)
			}
			for _, m := range got {
				if m.Tags["msgid"] == "" || m.Tags["time"] == "" {
					t.Fatalf("history line lacks msgid or time: %v", m)
				}
			}
		})
	}
}

// TestChathistorySameMessage checks a replayed message carries the msgid
// and time it was relayed with.
func TestChathistorySameMessage(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	f.alice.Send("CHATHISTORY LATEST #h * 10")
	for i, m := range f.alice.historyBatch() {
		w := f.sent[i]
		if m.Tags["msgid"] != w.Tags["msgid"] || m.Tags["time"] != w.Tags["time"] || m.Prefix.Name != "alice" {
			t.Errorf("history[%d] = %v, relayed as %v", i, m, w)
		}
	}
}

func TestChathistoryLimitIsCapped(t *testing.T) {
	t.Parallel()
	ts := newRedisEnv(t).server(t)
	a := ts.register("alice", fullCaps...)
	a.Join("#big")
	for i := range chathistoryMax + 5 {
		a.Send("PRIVMSG #big :line %d", i)
	}
	a.Sync()
	a.Send("CHATHISTORY LATEST #big * %d", 10*chathistoryMax)
	got := texts(a.historyBatch())
	if len(got) != chathistoryMax || got[len(got)-1] != fmt.Sprintf("line %d", chathistoryMax+4) {
		t.Fatalf("capped LATEST returned %d lines ending %q", len(got), got[len(got)-1])
	}
}

func TestChathistoryFailures(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	bob := f.ts.register("bob", fullCaps...)
	bob.Join("#bobs")
	cases := []struct{ args, want string }{
		{"FETCH #h * 10", `FAIL CHATHISTORY INVALID_PARAMS FETCH `},
		{"LATEST #h * 10 extra", `FAIL CHATHISTORY INVALID_PARAMS LATEST `},
		{"LATEST #h *", `FAIL CHATHISTORY INVALID_PARAMS LATEST `},
		{"BEFORE #h * 10", `FAIL CHATHISTORY INVALID_PARAMS BEFORE \* `},
		{"BEFORE #h nonsense 10", `FAIL CHATHISTORY INVALID_PARAMS BEFORE nonsense `},
		{"BEFORE #h msgid=notours 10", `FAIL CHATHISTORY INVALID_PARAMS BEFORE msgid=notours `},
		{"BEFORE #h timestamp=yesterday 10", `FAIL CHATHISTORY INVALID_PARAMS BEFORE timestamp=yesterday `},
		{"BEFORE #h seq=12 10", `FAIL CHATHISTORY INVALID_MSGREFTYPE BEFORE seq=12 `},
		{"LATEST #h * many", `FAIL CHATHISTORY INVALID_PARAMS LATEST many `},
		{"LATEST #h * 0", `FAIL CHATHISTORY INVALID_PARAMS LATEST 0 `},
		{"LATEST #h * -5", `FAIL CHATHISTORY INVALID_PARAMS LATEST -5 `},
		{"TARGETS " + f.msgid(1) + " " + f.msgid(2) + " 10", `FAIL CHATHISTORY INVALID_PARAMS TARGETS `},
		{"TARGETS * * 10", `FAIL CHATHISTORY INVALID_PARAMS TARGETS `},
	}
	for _, tc := range cases {
		f.alice.Send("CHATHISTORY %s", tc.args)
		f.alice.Expect(tc.want)
	}
	f.alice.Send("CHATHISTORY LATEST")
	f.alice.Expect(` 461 alice CHATHISTORY `)
	// Not a member, and not existing, look the same.
	for _, target := range []string{"#bobs", "#nowhere", "bad,nick"} {
		f.alice.Send("CHATHISTORY LATEST %s * 10", target)
		m := f.alice.Expect(`FAIL CHATHISTORY INVALID_TARGET`)
		if m.Params[3] != target || m.Trailing() != "Messages could not be retrieved" {
			t.Errorf("INVALID_TARGET for %s = %v", target, m)
		}
	}
	// Leaving a channel ends access to its history.
	bob.Join("#h")
	bob.Send("PART #h")
	bob.Expect(`PART #h`)
	bob.Send("CHATHISTORY LATEST #h * 10")
	bob.Expect(`FAIL CHATHISTORY INVALID_TARGET LATEST #h `)
}

// TestChathistoryWithoutCaps checks a client without batch or
// server-time still gets readable lines, stamped in the text.
func TestChathistoryWithoutCaps(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	c := f.ts.registerPass("plain")
	c.Join("#h")
	c.Expect(`PRIVMSG #h :\[\S+ \S+ UTC\] m9$`) // the join replay
	c.Send("CHATHISTORY BEFORE #h %s 2", f.msgid(5))
	for _, want := range []string{"m3", "m4"} {
		m := c.Expect(`PRIVMSG #h `)
		if !strings.HasSuffix(m.Trailing(), " UTC] "+want) || len(m.Tags) != 0 {
			t.Fatalf("plain history line = %v, want stamped %s", m, want)
		}
	}
	c.Send("CHATHISTORY AFTER #h %s 10", f.msgid(9))
	c.Quiet(`BATCH|PRIVMSG`, 200*time.Millisecond)
}

// TestChathistorySeesOwnMessage checks a message sent just before the
// request is in the answer: the handler flushes the write-behind queue.
func TestChathistorySeesOwnMessage(t *testing.T) {
	t.Parallel()
	ts := newRedisEnv(t).server(t)
	a := ts.register("alice", fullCaps...)
	a.Join("#now")
	for i := range 20 {
		a.Send("PRIVMSG #now :burst %d", i)
	}
	a.Send("CHATHISTORY LATEST #now * 1")
	got := texts(a.historyBatch())
	if !slices.Equal(got, []string{"burst 19"}) {
		t.Fatalf("latest right after sending = %q", got)
	}
}

func TestChathistoryTargets(t *testing.T) {
	t.Parallel()
	ts := newRedisEnv(t).server(t)
	a := ts.register("alice", fullCaps...)
	b := ts.register("bob", fullCaps...)
	erin := ts.register("erin", fullCaps...)
	carol := ts.register("carol", fullCaps...)
	b.Join("#other")
	b.say("#other", "alice is not here")
	a.Join("#h1")
	a.Join("#h2")
	a.say("#h1", "one")
	time.Sleep(2 * time.Millisecond)
	erin.say("alice", "from erin")
	time.Sleep(2 * time.Millisecond)
	a.say("bob", "to bob")
	time.Sleep(2 * time.Millisecond)
	a.say("#h2", "two")
	carol.say("bob", "not alice's business")
	erin.Send("QUIT :bye") // an offline partner is found through the store
	erin.ExpectClosed()
	from, to := "timestamp=2000-01-01T00:00:00.000Z", "timestamp=2100-01-01T00:00:00.000Z"

	a.Send("CHATHISTORY TARGETS %s %s 10", from, to)
	if got := targetNames(a); !slices.Equal(got, []string{"#h1", "erin", "bob", "#h2"}) {
		t.Fatalf("TARGETS = %q", got)
	}
	a.Send("CHATHISTORY TARGETS %s %s 2", from, to)
	if got := targetNames(a); !slices.Equal(got, []string{"#h1", "erin"}) {
		t.Fatalf("TARGETS limit 2 = %q", got)
	}
	a.Send("CHATHISTORY TARGETS %s %s 2", to, from)
	if got := targetNames(a); !slices.Equal(got, []string{"bob", "#h2"}) {
		t.Fatalf("TARGETS newest 2 = %q", got)
	}
	a.Send("CHATHISTORY TARGETS %s %s 10", to, to)
	if got := targetNames(a); len(got) != 0 {
		t.Fatalf("TARGETS in an empty range = %q", got)
	}
}

// targetNames reads one draft/chathistory-targets batch and returns the
// target names in it, checking each line's timestamp parses.
func targetNames(c *testClient) []string {
	c.T().Helper()
	start := c.Expect(`BATCH \+\S+ draft/chathistory-targets`)
	ref := strings.TrimPrefix(start.Params[0], "+")
	var names []string
	for {
		m := c.Expect(`.`)
		if m.Command == "BATCH" && m.Params[0] == "-"+ref {
			return names
		}
		if m.Command != "CHATHISTORY" || m.Params[0] != "TARGETS" || m.Tags["batch"] != ref {
			c.T().Fatalf("unexpected line in targets batch: %v", m)
		}
		if _, err := time.Parse(timestampLayout, m.Params[2]); err != nil {
			c.T().Fatalf("bad TARGETS timestamp %q", m.Params[2])
		}
		names = append(names, m.Params[1])
	}
}
