package ircd

import (
	"testing"
)

func TestClusterChannelAcrossNodes(t *testing.T) {
	e := newClusterEnv(t, 3)
	a := e.nodes[0].register("alice", "server-time", "message-tags")
	b := e.nodes[1].register("bob", "server-time", "message-tags")
	c := e.nodes[2].register("carol")
	waitNick(t, e.nodes[0], "carol")
	a.JoinAndSync("#x")
	waitMember(t, e.nodes[1], "#x", "alice")
	b.JoinAndSync("#x")
	a.Expect(`:bob!\S+ JOIN #x`)
	c.JoinAndSync("#x")
	a.Expect(`:carol!\S+ JOIN #x`)
	b.Expect(`:carol!\S+ JOIN #x`)

	a.Send("PRIVMSG #x :hello from node1")
	mb := b.Expect(`PRIVMSG #x :hello from node1`)
	mc := c.Expect(`:alice!\S+ PRIVMSG #x :hello from node1`)
	if mb.Tags["msgid"] == "" {
		t.Fatalf("no msgid on the remote delivery: %v", mb)
	}
	_ = mc
	c.Send("NAMES #x")
	names := c.Expect(` 353 carol = #x :`)
	for _, n := range []string{"@alice", "bob", "carol"} {
		if !containsWord(names.Params[3], n) {
			t.Fatalf("NAMES on node3 = %q, want %s", names.Params[3], n)
		}
	}
}

func containsWord(list, w string) bool {
	for _, x := range splitWords(list) {
		if x == w {
			return true
		}
	}
	return false
}
