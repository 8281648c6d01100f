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

func TestClusterNickUniqueAcrossNodes(t *testing.T) {
	e := newClusterEnv(t, 2)
	a := e.nodes[0].register("alice")
	waitNick(t, e.nodes[1], "alice")
	b := e.nodes[1].dial()
	b.Send("PASS :%s", testPassword)
	b.Send("NICK Alice")
	b.Send("USER b 0 * :b")
	b.Expect(` 433 \* Alice :Nickname is already in use`)
	b.Send("NICK bob")
	b.Expect(` 001 bob `)
	waitNick(t, e.nodes[0], "bob")
	a.Send("NICK BOB")
	a.Expect(` 433 alice BOB :Nickname is already in use`)
	// A free nick moves, and the old one is free on the other node.
	a.Send("NICK alicia")
	a.Expect(`:alice!\S+ NICK alicia`)
	waitNick(t, e.nodes[1], "alicia")
	b.Send("NICK alice")
	b.Expect(`:bob!\S+ NICK alice`)
}

func TestClusterNickRaceHasOneWinner(t *testing.T) {
	e := newClusterEnv(t, 3)
	for round := range 5 {
		nick := "race" + string(rune('a'+round))
		results := make(chan string, len(e.nodes))
		for _, ts := range e.nodes {
			c := ts.dial()
			go func() {
				c.Send("PASS :%s", testPassword)
				c.Send("NICK %s", nick)
				c.Send("USER u 0 * :u")
				m := c.Expect(` (001|433) `)
				results <- m.Command
			}()
		}
		won := 0
		for range e.nodes {
			if <-results == "001" {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d nodes gave out %s", round, won, nick)
		}
	}
}

func TestClusterPrivateMessageAndInfo(t *testing.T) {
	e := newClusterEnv(t, 2)
	a := e.nodes[0].register("alice", "echo-message", "message-tags", "server-time")
	b := e.nodes[1].register("bob", "message-tags", "server-time")
	waitNick(t, e.nodes[0], "bob")
	a.Send("PRIVMSG bob :psst")
	got := b.Expect(`:alice!\S+ PRIVMSG bob :?psst`)
	echo := a.Expect(`:alice!\S+ PRIVMSG bob :?psst`)
	if got.Tags["msgid"] == "" || got.Tags["msgid"] != echo.Tags["msgid"] || got.Tags["time"] != echo.Tags["time"] {
		t.Fatalf("msgid/time differ across nodes: %v vs %v", got.Tags, echo.Tags)
	}
	b.Send("AWAY :lunch")
	b.Expect(` 306 `)
	waitAway(t, e.nodes[0], "bob")
	a.Send("PRIVMSG bob :back?")
	a.Expect(` 301 alice bob :?lunch`)
	a.Send("WHOIS bob")
	a.Expect(` 311 alice bob \S+ \S+ \* :`)
	a.Expect(` 318 alice bob `)
	a.Send("ISON bob carol")
	a.Expect(` 303 alice :?bob`)
	a.Send("WHO bob")
	a.Expect(` 352 alice \* \S+ \S+ \S+ bob G`)
}

func TestClusterKickKillModeTopic(t *testing.T) {
	e := newClusterEnv(t, 2, withOper(operHash(t)))
	op := operUp(e.nodes[0], "op")
	v := e.nodes[1].register("victim")
	op.JoinAndSync("#c")
	waitMember(t, e.nodes[1], "#c", "op")
	v.JoinAndSync("#c")
	op.Expect(`:victim!\S+ JOIN #c`)

	op.Send("TOPIC #c :shared topic")
	v.Expect(`:op!\S+ TOPIC #c :shared topic`)
	op.Send("MODE #c +v victim")
	v.Expect(`:op!\S+ MODE #c \+v victim`)
	op.Send("MODE #c +m")
	v.Expect(`:op!\S+ MODE #c \+m`)
	v.Send("NAMES #c")
	v.Expect(` 353 victim = #c :(@op \+victim|\+victim @op)`)

	op.Send("KICK #c victim :out")
	v.Expect(`:op!\S+ KICK #c victim :?out`)
	op.Expect(`:op!\S+ KICK #c victim :?out`)
	v.Send("JOIN #c")
	v.Expect(`:victim!\S+ JOIN #c`)
	op.Expect(`:victim!\S+ JOIN #c`)

	op.Send("KILL victim :bye")
	v.Expect(`ERROR :Closing link: .*Killed \(op \(bye\)\)`)
	op.Expect(`:victim!\S+ QUIT :Killed \(op \(bye\)\)`)
}
