package main

// Helpers for the cluster tests: several securechatd processes started
// with --cluster on one real redis-server, and clients that wait until
// a node knows what another node did.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/irc.v4"

	"securechat/store/redistest"
)

// clusterLease is the --cluster-lease of the test nodes: short, so a lost
// node shows quickly.
const clusterLease = 2 * time.Second

// nodeLossBound is how long peers may take to drop a dead node's users:
// the lease and one sweep (what --help promises), plus slack for a
// loaded machine and for noticing the kill.
const nodeLossBound = clusterLease + clusterLease/3 + 3*time.Second

// clusterCaps are what the test clients ask for: msgids and times on
// every line, their own lines echoed, and CHATHISTORY (so JOIN replays
// nothing and a test reads history only when it asks).
var clusterCaps = []string{"message-tags", "server-time", "echo-message", "batch", "draft/chathistory"}

// clusterArgs are the arguments of node id on the Redis at url.
func clusterArgs(url, id string, extra ...string) []string {
	return append([]string{"--redis=" + url, "--cluster", "--node-id", id, "--cluster-lease", clusterLease.String()}, extra...)
}

// startNode starts node id of the cluster on rs; a dataDir of "" is a
// fresh one.
func startNode(t *testing.T, rs *redistest.Server, id, dataDir string, extra ...string) *running {
	t.Helper()
	return startDaemon(t, daemonSpec{dataDir: dataDir, env: passwordEnv(roomPassword), args: clusterArgs(rs.URL(), id, extra...)})
}

// startCluster starts n nodes, n1 to nN, on one new redis-server; extra
// arguments go to every node.
func startCluster(t *testing.T, n int, extra ...string) (*redistest.Server, []*running) {
	t.Helper()
	rs := redistest.Start(t)
	var nodes []*running
	for i := range n {
		nodes = append(nodes, startNode(t, rs, fmt.Sprintf("n%d", i+1), "", extra...))
	}
	return rs, nodes
}

// joinAs registers nick on node d with clusterCaps.
func joinAs(t *testing.T, d *running, nick string) *client {
	t.Helper()
	return d.registerWith(t, nick, roomPassword, clusterCaps...)
}

// meet registers nicks[i] on nodes[i], waits until every node knows every
// nick, joins them all to channel and waits until every node lists them
// all there.
func meet(t *testing.T, nodes []*running, channel string, nicks ...string) []*client {
	t.Helper()
	var cs []*client
	for i, n := range nicks {
		cs = append(cs, joinAs(t, nodes[i], n))
	}
	for _, c := range cs {
		waitISON(c, nicks...)
		c.Join(channel)
	}
	for _, c := range cs {
		waitNames(c, channel, nicks...)
	}
	return cs
}

// waitISON waits until c's node knows every nick as online.
func waitISON(c *client, nicks ...string) {
	c.T().Helper()
	deadline := time.Now().Add(expectTimeout)
	for {
		c.Send("ISON %s", strings.Join(nicks, " "))
		got := strings.Fields(c.Expect(` 303 `).Trailing())
		if len(got) == len(nicks) {
			return
		}
		if time.Now().After(deadline) {
			c.T().Fatalf("%s: ISON %q = %q after %v", c.Nick, nicks, got, expectTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// names asks c's node for channel's members, without their prefixes,
// sorted.
func names(c *client, channel string) []string {
	c.T().Helper()
	c.Send("NAMES %s", channel)
	var out []string
	for {
		m := c.Expect(` (353|366) `)
		if m.Command == "366" {
			slices.Sort(out)
			return out
		}
		for _, n := range strings.Fields(m.Trailing()) {
			out = append(out, strings.TrimLeft(n, "~&@%+"))
		}
	}
}

// waitNames waits until c's node lists exactly want in channel: every
// member, on whichever node, and no one else.
func waitNames(c *client, channel string, want ...string) {
	c.T().Helper()
	slices.Sort(want)
	deadline := time.Now().Add(expectTimeout)
	for {
		got := names(c, channel)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			c.T().Fatalf("%s: NAMES %s = %q, want %q", c.Nick, channel, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// delivery is one PRIVMSG as a client received it.
type delivery struct{ from, text, msgid, time string }

// privmsgRe matches the PRIVMSGs the tests send to one target.
func privmsgRe(target string) string { return ` PRIVMSG ` + regexp.QuoteMeta(target) + ` :` }

// collect reads c's lines until it has seen a PRIVMSG to target with each
// of the texts in until, then syncs, and returns every PRIVMSG to target
// it read, in order.
func collect(c *client, target string, until ...string) []delivery {
	c.T().Helper()
	var got []delivery
	pending := map[string]bool{}
	for _, u := range until {
		pending[u] = true
	}
	for len(pending) > 0 {
		d := asDelivery(c.Expect(privmsgRe(target)))
		delete(pending, d.text)
		got = append(got, d)
	}
	for _, l := range c.Sync() {
		if m, err := irc.ParseMessage(l); err == nil && m.Command == "PRIVMSG" && m.Params[0] == target {
			got = append(got, asDelivery(m))
		}
	}
	return got
}

func asDelivery(m *irc.Message) delivery {
	return delivery{from: m.Name, text: m.Trailing(), msgid: m.Tags["msgid"], time: m.Tags["time"]}
}

// chathistory sends CHATHISTORY sub target args and returns the messages of
// the batch, in order.
func chathistory(c *client, sub, target, args string) []delivery {
	c.T().Helper()
	c.Send("CHATHISTORY %s %s %s", sub, target, args)
	start := c.Expect(`BATCH \+\S+ chathistory `)
	ref := strings.TrimPrefix(start.Params[0], "+")
	var out []delivery
	for {
		m := c.Expect(`batch=` + regexp.QuoteMeta(ref) + `|BATCH -` + regexp.QuoteMeta(ref))
		if m.Command == "BATCH" {
			return out
		}
		if m.Command == "PRIVMSG" {
			out = append(out, asDelivery(m))
		}
	}
}

// texts returns the texts of ds.
func texts(ds []delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.text
	}
	return out
}

// waitHistory asks CHATHISTORY until target's history after msgid holds
// each of want exactly once, each sender's lines in the order sent, and
// nothing else. Nodes write history through their own queues, so lines
// from different nodes may be stored in either order, and the last ones
// a moment after delivery. It fails on a gap, a duplicate or a stranger
// that stays.
func waitHistory(c *client, target, afterMsgid string, want []string) []delivery {
	c.T().Helper()
	deadline := time.Now().Add(expectTimeout)
	for {
		got := chathistory(c, "AFTER", target, "msgid="+afterMsgid+" 100")
		if sameLines(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			c.T().Fatalf("%s: history of %s after %s = %q, want %q", c.Nick, target, afterMsgid, texts(got), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sameLines reports whether got holds each of want exactly once, and each
// sender's lines in the order they have in want.
func sameLines(got []delivery, want []string) bool {
	if !sameSet(texts(got), want) {
		return false
	}
	bySender := map[string][]string{}
	for _, d := range got {
		bySender[d.from] = append(bySender[d.from], d.text)
	}
	for _, lines := range bySender {
		if !slices.IsSortedFunc(lines, func(a, b string) int { return slices.Index(want, a) - slices.Index(want, b) }) {
			return false
		}
	}
	return true
}

// sameSet reports whether got holds each of want exactly once, in any
// order.
func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}
