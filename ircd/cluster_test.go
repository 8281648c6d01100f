package ircd

import (
	"context"
	"net/http"
	"testing"
	"time"

	"securechat/ircd/cluster"
	"securechat/ircd/push/pushtest"
	"securechat/store/redistest"
)

func TestClusterChannelAcrossNodes(t *testing.T) { testClusterChannelAcrossNodes(t, newClusterEnv) }

func testClusterChannelAcrossNodes(t *testing.T, newEnv envFunc) {
	e := newEnv(t, 3)
	a := e.nodes[0].register("alice", "server-time", "message-tags")
	b := e.nodes[1].register("bob", "server-time", "message-tags")
	c := e.nodes[2].register("carol")
	waitNick(t, e.nodes[0], "carol")
	e.together(t, "#x", a, b, c)

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

func TestClusterNickRaceHasOneWinner(t *testing.T) { testClusterNickRaceHasOneWinner(t, newClusterEnv) }

func testClusterNickRaceHasOneWinner(t *testing.T, newEnv envFunc) {
	e := newEnv(t, 3)
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
	testClusterPrivateMessageAndInfo(t, newClusterEnv)
}

func testClusterPrivateMessageAndInfo(t *testing.T, newEnv envFunc) {
	e := newEnv(t, 2)
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

func TestClusterKickKillModeTopic(t *testing.T) { testClusterKickKillModeTopic(t, newClusterEnv) }

func testClusterKickKillModeTopic(t *testing.T, newEnv envFunc) {
	e := newEnv(t, 2, withOper(operHash(t)))
	op := operUp(e.nodes[0], "op")
	v := e.nodes[1].register("victim")
	e.together(t, "#c", op, v)

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

func TestClusterLateNodeLearnsState(t *testing.T) {
	e := newClusterEnv(t, 2)
	op := e.nodes[0].register("op")
	v := e.nodes[1].register("voiced")
	e.together(t, "#s", op, v)
	op.Send("MODE #s +mk-t sekrit")
	op.Expect(`MODE #s \+mk-t :?sekrit`)
	op.Send("MODE #s +bv bad!*@* voiced")
	v.Expect(`MODE #s \+bv bad!\*@\* :?voiced`)

	late := e.node(t, "node3")
	e.nodes = append(e.nodes, late)
	e.waitPeers(t, 3)
	waitMember(t, late, "#s", "voiced")
	c := late.register("carol")
	c.Send("NAMES #s")
	c.Expect(` 353 carol = #s :(@op \+voiced|\+voiced @op)`)
	c.Send("MODE #s")
	c.Expect(` 324 carol #s \+mnk :?\*`)
	c.Send("MODE #s b")
	c.Expect(` 367 carol #s bad!\*@\* `)
	c.Send("JOIN #s")
	c.Expect(` 475 carol #s `)
}

func TestClusterNodeLost(t *testing.T) { testClusterNodeLost(t, newClusterEnv) }

func testClusterNodeLost(t *testing.T, newEnv envFunc) {
	e := newEnv(t, 3)
	a := e.nodes[0].register("alice")
	doomed := e.nodes[2].register("doomed")
	e.together(t, "#x", a, doomed)

	// A crash: the node stops renewing its lease and publishing, then its
	// connections drop; nothing it would have said reaches the others.
	e.nodes[2].srv.link.c.Stop()
	_ = e.clients[2].Close()
	e.nodes[2].shutdown()
	a.Expect(`:doomed!\S+ QUIT :Server node lost`)
	waitGone(t, e.nodes[1], "doomed")  // each node sees the loss at its own sweep
	n := e.nodes[1].register("doomed") // the nick is free again
	n.Send("NAMES #x")
	n.Expect(` 353 doomed = #x :?@?alice$`)
	a.Send("LUSERS")
	a.Expect(` 251 alice :There are 2 users and 0 invisible on 2 servers`)
}

func TestClusterDrain(t *testing.T) {
	e := newClusterEnv(t, 2)
	a := e.nodes[0].register("alice")
	b := e.nodes[1].register("bob")
	e.together(t, "#x", a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.nodes[1].srv.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	b.Expect(`ERROR :Closing link: .*Server node restarting, please reconnect`)
	a.Expect(`:bob!\S+ QUIT :Server node restarting, please reconnect`)
	for e.nodes[0].srv.link.nodes() != 1 {
		time.Sleep(10 * time.Millisecond) // a clean leave, seen at the next sweep
	}
	b2 := e.nodes[0].register("bob")
	b2.Send("LINKS")
	b2.Expect(` 364 bob irc.test irc.test :0 `)
	b2.Expect(` 364 bob node1.irc.test irc.test :1 securechat node node1`)
	b2.Expect(` 365 bob `)
}

func TestClusterLinksAndLusers(t *testing.T) {
	e := newClusterEnv(t, 3)
	a := e.nodes[0].register("alice")
	e.nodes[1].register("bob")
	e.nodes[2].register("carol")
	waitNick(t, e.nodes[0], "bob")
	waitNick(t, e.nodes[0], "carol")
	a.Send("LUSERS")
	a.Expect(` 251 alice :There are 3 users and 0 invisible on 3 servers`)
	a.Expect(` 255 alice :I have 1 clients and 2 servers`)
	a.Expect(` 265 alice 1 1 `)
	a.Expect(` 266 alice 3 3 `)
	a.Send("LINKS")
	for _, id := range []string{"node1", "node2", "node3"} {
		a.Expect(` 364 alice ` + id + `.irc.test irc.test :1 securechat node ` + id)
	}
}

func TestClusterMonitorWhowasListInvite(t *testing.T) {
	e := newClusterEnv(t, 2)
	w := e.nodes[0].register("watcher", "invite-notify")
	w.Send("MONITOR + bob")
	w.Expect(` 731 watcher :?bob`)
	b := e.nodes[1].register("bob")
	w.Expect(` 730 watcher :?bob!\S+`)

	w.JoinAndSync("#inv")
	w.Send("MODE #inv +i")
	w.Expect(`MODE #inv \+i`)
	waitMember(t, e.nodes[1], "#inv", "watcher")
	b.Send("JOIN #inv")
	b.Expect(` 473 bob #inv `)
	w.Send("INVITE bob #inv")
	w.Expect(` 341 watcher bob #inv`)
	b.Expect(`:watcher!\S+ INVITE bob :?#inv`)
	b.Send("JOIN #inv")
	b.Expect(`:bob!\S+ JOIN #inv`)

	b.Send("LIST")
	b.Expect(` 322 bob #inv 2 `)
	b.Send("QUIT :bye")
	w.Expect(`:bob!\S+ QUIT :Quit: bye`)
	w.Expect(` 731 watcher :?bob`)
	w.Send("WHOWAS bob")
	w.Expect(` 314 watcher bob \S+ \S+ \* :`)
}

// A node hears a channel's messages only while it has a local member.
func TestClusterTrafficOnlyWhereMembers(t *testing.T) {
	e := newClusterEnv(t, 3)
	a := e.nodes[0].register("alice")
	b := e.nodes[1].register("bob")
	e.together(t, "#busy", a, b)
	before := e.nodes[2].srv.link.c.Stats().Received
	for i := range 20 {
		a.Send("PRIVMSG #busy :message %d", i)
	}
	b.Expect(`PRIVMSG #busy :message 19`)
	a.Send("NICK alicia") // a namespace event every node hears, after the messages
	waitNick(t, e.nodes[2], "alicia")
	if got := e.nodes[2].srv.link.c.Stats().Received - before; got != 1 {
		t.Fatalf("node3, with no member in #busy, received %d payloads; want only the NICK", got)
	}
}

func TestClusterMultilineAndRedact(t *testing.T) {
	e := newClusterEnv(t, 2)
	a := e.nodes[0].register("alice", redactCaps...)
	b := e.nodes[1].register("bob", append(multilineCaps, "draft/message-redaction")...)
	e.together(t, "#m", a, b)

	b.sendMultiline("ml1", "", "#m", "first line", "+ continued", "second line")
	a.Expect(`:bob!\S+ PRIVMSG #m :first line`)
	a.Expect(`:bob!\S+ PRIVMSG #m : continued`)
	a.Expect(`:bob!\S+ PRIVMSG #m :second line`)

	gone := a.say("#m", "oops").Tags["msgid"]
	b.Expect(`:alice!\S+ PRIVMSG #m :?oops`)
	a.Send("REDACT #m %s :typo", gone)
	got := b.Expect(`:alice!\S+ REDACT #m `)
	if got.Params[1] != gone {
		t.Fatalf("bob's REDACT %v, want %s", got, gone)
	}
	ch := e.nodes[1].srv.lookupChannel("#m")
	ch.mu.Lock()
	inRing := ch.ring.Find(gone) != nil
	ch.mu.Unlock()
	if inRing {
		t.Fatal("the redacted message stayed in node2's replay ring")
	}
}

func TestClusterAccounts(t *testing.T) {
	e := newClusterEnv(t, 2, withAccounts())
	a := e.nodes[0].registerAccount("alice", personalPassword)
	w := e.nodes[0].register("watcher")
	a.quit()
	// The account made on node1 logs in on node2 at once.
	b := e.nodes[1].loginAccount("alice", "alice", personalPassword)
	_ = b
	waitNick(t, e.nodes[0], "alice")
	w.Send("WHOIS alice")
	w.Expect(` 330 watcher alice alice :`)
	w.Send("NICK alice2")
	w.Expect(`NICK :?alice2`)
	w.Send("NICK ALICE") // registered, and held on node2
	w.Expect(` 433 alice2 ALICE `)
}

func TestClusterMarkreadSyncs(t *testing.T) {
	e := newClusterEnv(t, 2, withAccounts())
	phone := e.nodes[0].registerAccount("zoe", personalPassword, markerCaps...)
	laptop := e.nodes[1].loginAccount("zoe_lap", "zoe", personalPassword, markerCaps...)
	phone.Send("MARKREAD #c timestamp=" + markedAt)
	phone.Expect(`^:irc.test MARKREAD #c timestamp=` + markedAt + `$`)
	laptop.Expect(`^:irc.test MARKREAD #c timestamp=` + markedAt + `$`)
	laptop.expectMarker("#C", markedAt)
}

// A subscription made on one node is pushed to by another, where the
// message arrives.
func TestClusterWebpushFromAnotherNode(t *testing.T) {
	e := newClusterEnv(t, 2, withAccounts())
	ps := pushtest.NewService(t, http.StatusCreated)
	alice := e.nodes[0].dial()
	vapid := vapidKey(t, alice.RegisterAccount("alice", personalPassword, testPassword, "draft/webpush"))
	sub := subscribe(alice, ps)
	alice.quit()
	waitGone(t, e.nodes[1], "alice")

	bob := e.nodes[1].register("bob")
	bob.Send("PRIVMSG alice :across the cluster")
	expectPush(t, ps, sub, vapid, ` PRIVMSG alice :across the cluster$`)
}

// TestRedisCluster runs the cluster's main tests on a real 3-master
// Redis Cluster: the store's keys and the nodes' shard channels spread
// over its masters.
func TestRedisCluster(t *testing.T) {
	newEnv := onRedisCluster(redistest.StartCluster(t, 3))
	for name, f := range map[string]func(*testing.T, envFunc){
		"ChannelAcrossNodes": testClusterChannelAcrossNodes,
		"NickRace":           testClusterNickRaceHasOneWinner,
		"PrivateMessage":     testClusterPrivateMessageAndInfo,
		"KickKillModeTopic":  testClusterKickKillModeTopic,
		"NodeLost":           testClusterNodeLost,
	} {
		t.Run(name, func(t *testing.T) { f(t, newEnv) })
	}
}

func TestClusterRenameRegistrationWallops(t *testing.T) {
	e := newClusterEnv(t, 2, withAccounts(), withOper(operHash(t)))
	founder := e.nodes[0].registerAccount("founder", personalPassword, "draft/channel-rename")
	far := e.nodes[1].register("far", "draft/channel-rename")
	e.together(t, "#old", founder, far)

	founder.Send("RENAME #old #new :tidy")
	far.Expect(`:founder!\S+ RENAME #old #new :?tidy$`)
	far.Send("PRIVMSG #new :after the rename")
	founder.Expect(`:far!\S+ PRIVMSG #new :after the rename`)
	founder.Send("PRIVMSG #new :and back")
	far.Expect(`:founder!\S+ PRIVMSG #new :and back`)

	founder.Send("PRIVMSG ChanServ :REGISTER #new")
	founder.Expect(`#new is now registered to founder`)
	founder.Send("PART #new")
	far.Expect(`:founder!\S+ PART #new`)
	far.Send("PART #new")
	far.Expect(`:far!\S+ PART #new`)
	far.Send("JOIN #new") // a stranger to the founder's registration gets no ops
	far.Expect(` 353 far = #new :?far$`)
	founder.Send("JOIN #new")
	far.Expect(`:founder!\S+ JOIN #new`)
	far.Send("NAMES #new")
	far.Expect(` 353 far = #new :(@founder far|far @founder)$`)

	op := operUp(e.nodes[1], "op")
	founder.Send("MODE founder +w")
	founder.Expect(`MODE founder :?\+w$`)
	waitNick(t, e.nodes[1], "founder")
	op.Send("WALLOPS :hear ye")
	founder.Expect(`^:op!\S+ WALLOPS :?hear ye$`)
}

func TestClusterMetadata(t *testing.T) {
	e := newClusterEnv(t, 2)
	alice := e.nodes[0].register("alice", metaCaps...)
	bob := e.nodes[1].register("bob", metaCaps...)
	e.together(t, "#m", alice, bob)
	bob.Send("METADATA * SUB display-name topic-url")
	bob.Expect(` 770 bob :display-name topic-url$`)

	alice.Send("METADATA * SET display-name :Alice A.")
	bob.Expect(`:alice!\S+ METADATA alice display-name \* :?Alice A\.$`)
	bob.Send("METADATA alice GET display-name")
	bob.Expect(` 761 bob alice display-name \* :?Alice A\.$`)
	alice.Send("METADATA #m SET topic-url :https://example.org/")
	bob.Expect(`:alice!\S+ METADATA #m topic-url \* :?https://example.org/$`)
	alice.Send("METADATA * SET display-name")
	bob.Expect(`:alice!\S+ METADATA alice display-name \*$`)
}

// A node that reports a peer gone and back (its process replaced, seen
// only at the next sweep) asks it for its users again, so those who
// announced themselves in between are not lost.
func TestClusterNodeReplacedKeepsItsUsers(t *testing.T) {
	e := newClusterEnv(t, 2)
	a := e.nodes[0].register("alice")
	b := e.nodes[1].register("bob")
	e.together(t, "#r", a, b)
	l := e.nodes[0].srv.link
	l.nodeDown("node2", cluster.DownReplaced)
	a.Expect(`:bob!\S+ QUIT :Server node lost`)
	l.nodeUp("node2")
	a.Expect(`:bob!\S+ JOIN #r`)
	waitMember(t, e.nodes[0], "#r", "bob")
	b.Send("PRIVMSG #r :still here")
	a.Expect(`:bob!\S+ PRIVMSG #r :still here`)
}
