package main

// Real-binary cluster tests (issue 14): three securechatd processes with
// --cluster on one real redis-server, killed, drained and cut off from
// Redis the way an operator or a crash would. They do not run in
// parallel with the rest: each runs three daemons, and the node-loss
// bounds they check are the ones --help promises, which a machine busy
// with every other end-to-end test could miss.

import (
	"fmt"
	"testing"
	"time"
)

// TestClusterBinaryChat: clients on three nodes share a channel; every
// member gets each line exactly once with the same msgid and time, a
// private message crosses nodes, and NAMES on each node lists everyone.
func TestClusterBinaryChat(t *testing.T) {
	_, nodes := startCluster(t, 3)
	nicks := []string{"alice", "bob", "carol"}
	var cs []*client
	for i, n := range nicks {
		cs = append(cs, joinAs(t, nodes[i], n))
	}
	for _, c := range cs {
		waitISON(c, nicks...)
		c.Join("#ops")
	}
	for _, c := range cs {
		waitNames(c, "#ops", nicks...)
	}

	var sent, ends []string
	for round := range 3 {
		for i, c := range cs {
			text := fmt.Sprintf("line %d from %s", round, nicks[i])
			c.Send("PRIVMSG #ops :%s", text)
			sent = append(sent, text)
			if round == 2 {
				ends = append(ends, text)
			}
		}
	}
	seen := map[string]delivery{} // text -> the first client's copy
	for i, c := range cs {
		got := collect(c, "#ops", ends...)
		if !sameSet(texts(got), sent) {
			t.Errorf("%s got %q, want each of %q exactly once", nicks[i], texts(got), sent)
		}
		for _, d := range got {
			first, ok := seen[d.text]
			switch {
			case d.msgid == "" || d.time == "":
				t.Errorf("%s got %q without msgid or time", nicks[i], d.text)
			case !ok:
				seen[d.text] = d
			case first.msgid != d.msgid || first.time != d.time:
				t.Errorf("%q reached %s as msgid %s at %s, elsewhere as %s at %s", d.text, nicks[i], d.msgid, d.time, first.msgid, first.time)
			}
		}
	}

	cs[0].Send("PRIVMSG carol :psst, across nodes")
	echo := asDelivery(cs[0].Expect(`PRIVMSG carol :psst, across nodes$`))
	got := asDelivery(cs[2].Expect(`:alice!\S+ PRIVMSG carol :psst, across nodes$`))
	if got.msgid == "" || got.msgid != echo.msgid {
		t.Errorf("private message msgid %q at carol, %q in alice's echo", got.msgid, echo.msgid)
	}
	cs[2].Send("PRIVMSG alice :and back")
	cs[0].Expect(`:carol!\S+ PRIVMSG alice :and back$`)
}

// TestClusterBinaryNodeKilled: SIGKILL a node whose user is in a channel.
// Within the lease and a sweep the others see that user quit with "Server
// node lost", NAMES has no ghost, and the nick is free; the user comes
// back on another node and CHATHISTORY gives exactly what was said
// meanwhile. The node then restarts with the same id and rejoins.
func TestClusterBinaryNodeKilled(t *testing.T) {
	rs, nodes := startCluster(t, 3)
	alice, bob, victor := joinAs(t, nodes[0], "alice"), joinAs(t, nodes[1], "bob"), joinAs(t, nodes[2], "victor")
	for _, c := range []*client{alice, bob, victor} {
		waitISON(c, "alice", "bob", "victor")
		c.Join("#k")
	}
	for _, c := range []*client{alice, bob, victor} {
		waitNames(c, "#k", "alice", "bob", "victor")
	}
	alice.Send("PRIVMSG #k :before the crash")
	last := collect(victor, "#k", "before the crash")
	lastSeen := last[len(last)-1].msgid

	nodes[2].kill()
	killed := time.Now()
	var away []string
	for i := range 3 {
		for _, c := range []*client{alice, bob} {
			text := fmt.Sprintf("while victor is away %d from %s", i, c.Nick)
			c.Send("PRIVMSG #k :%s", text)
			away = append(away, text)
		}
	}
	for _, c := range []*client{alice, bob} {
		c.ExpectTimeout = nodeLossBound
		c.Expect(`:victor!\S+ QUIT :Server node lost$`)
		c.ExpectTimeout = expectTimeout
	}
	if took := time.Since(killed); took > nodeLossBound {
		t.Errorf("peers dropped the dead node's user after %v, want within %v", took, nodeLossBound)
	}
	waitNames(alice, "#k", "alice", "bob")
	waitNames(bob, "#k", "alice", "bob")

	// The user reconnects, through the same address, to a surviving node
	// and takes its nick back: the dead node's claim went with its lease.
	back := joinAs(t, nodes[1], "victor")
	back.Join("#k")
	alice.Expect(`:victor!\S+ JOIN #k`)
	waitHistory(back, "#k", lastSeen, away)
	if latest := chathistory(back, "LATEST", "#k", "* 50"); !sameLines(latest, append([]string{"before the crash"}, away...)) {
		t.Errorf("CHATHISTORY LATEST = %q, want the line before the crash and %q", texts(latest), away)
	}

	// The node comes back under its id, on its data directory.
	restarted := startNode(t, rs, "n3", nodes[2].dataDir)
	dora := joinAs(t, restarted, "dora")
	waitISON(dora, "alice", "bob", "victor")
	dora.Join("#k")
	waitNames(dora, "#k", "alice", "bob", "victor", "dora")
	alice.Send("PRIVMSG #k :welcome back, node 3")
	dora.Expect(`:alice!\S+ PRIVMSG #k :welcome back, node 3$`)
	dora.Send("PRIVMSG #k :thanks, all")
	bob.Expect(`:dora!\S+ PRIVMSG #k :thanks, all$`)
}

// TestClusterBinaryNodeIDInUse: a second process given the id of a live
// node exits with a clear error once the wait for a stale lease is over;
// a node restarted right after a crash waits for its old lease instead,
// then serves.
func TestClusterBinaryNodeIDInUse(t *testing.T) {
	rs, nodes := startCluster(t, 1)
	res := runTool(t, "", passwordEnv(roomPassword), append([]string{"--listen=127.0.0.1:0", "--metrics-listen=", "--data-dir=" + t.TempDir()}, clusterArgs(rs, "n1")...)...)
	if res.code != 1 || !containsMatch([]string{res.stderr}, `securechatd: node-id: "n1" is held by another live node`) {
		t.Errorf("second node with a live id: exit %d, stderr:\n%s", res.code, res.stderr)
	}

	alice := joinAs(t, nodes[0], "alice")
	nodes[0].kill()
	alice.ExpectClosed()
	again := startNode(t, rs, "n1", nodes[0].dataDir)
	if !containsMatch([]string{again.stderr.String()}, `node id still held`) {
		t.Errorf("the restarted node did not say it waited for its old lease:\n%s", again.stderr.String())
	}
	joinAs(t, again, "alice").Sync()
}
