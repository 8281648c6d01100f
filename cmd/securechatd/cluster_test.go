package main

// Real-binary cluster tests (issue 14): three securechatd processes with
// --cluster on one real redis-server, killed, drained and cut off from
// Redis the way an operator or a crash would. They do not run in
// parallel with the rest: each runs three daemons, and the node-loss
// bounds they check are the ones --help promises, which a machine busy
// with every other end-to-end test could miss.

import (
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"securechat/store/redistest"
)

// TestClusterBinaryChat: clients on three nodes share a channel; every
// member gets each line exactly once with the same msgid and time, a
// private message crosses nodes, and NAMES on each node lists everyone.
func TestClusterBinaryChat(t *testing.T) {
	_, nodes := startCluster(t, 3)
	nicks := []string{"alice", "bob", "carol"}
	cs := meet(t, nodes, "#ops", nicks...)

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
	cs := meet(t, nodes, "#k", "alice", "bob", "victor")
	alice, bob, victor := cs[0], cs[1], cs[2]
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
	took := time.Since(killed)
	if took > nodeLossBound {
		t.Errorf("peers dropped the dead node's user after %v, want within %v", took, nodeLossBound)
	}
	t.Logf("peers dropped the dead node's user %v after SIGKILL (lease %v)", took.Round(time.Millisecond), clusterLease)
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
// node exits with a clear error once the wait for a stale lease is over,
// or with 0 when SIGTERM comes during that wait; a node restarted right
// after a crash waits for its old lease instead, then serves.
func TestClusterBinaryNodeIDInUse(t *testing.T) {
	rs, nodes := startCluster(t, 1)
	res := runTool(t, "", passwordEnv(roomPassword), append([]string{"--listen=127.0.0.1:0", "--metrics-listen=", "--data-dir=" + t.TempDir()}, clusterArgs(rs.URL(), "n1")...)...)
	if res.code != 1 || !containsMatch([]string{res.stderr}, `securechatd: node-id: "n1" is held by another live node`) {
		t.Errorf("second node with a live id: exit %d, stderr:\n%s", res.code, res.stderr)
	}

	// Stopped while it waits, it exits at once, and cleanly.
	waiting := exec.Command(binaryPath, append([]string{"--listen=127.0.0.1:0", "--metrics-listen=", "--data-dir=" + t.TempDir()}, clusterArgs(rs.URL(), "n1")...)...)
	waiting.Env = childEnv(passwordEnv(roomPassword)...)
	log := &logBuffer{}
	waiting.Stderr = log
	if err := waiting.Start(); err != nil {
		t.Fatal(err)
	}
	w := &running{t: t, cmd: waiting, stdout: &logBuffer{}, stderr: log, exited: make(chan struct{})}
	go func() { _ = waiting.Wait(); w.exitCode = waiting.ProcessState.ExitCode(); close(w.exited) }()
	t.Cleanup(w.kill)
	w.waitLog(regexp.MustCompile(`node id still held`), expectTimeout)
	w.signal(syscall.SIGTERM)
	if code := w.wait(clusterLease); code != 0 {
		t.Errorf("stopped while waiting for its node id: exit %d\n%s", code, log.String())
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

// drainReason is what a draining node tells its clients (ircd.Drain).
const drainReason = "Server node restarting, please reconnect"

// TestClusterBinaryDrain: SIGTERM to a node started with --drain sends
// its clients an ERROR asking them to reconnect; the other nodes show
// their QUIT with that reason at once, not a lease later; the process
// exits 0; and the clients, back on another node, find in history every
// line, their own last ones included.
func TestClusterBinaryDrain(t *testing.T) {
	rs := redistest.Start(t)
	nodes := []*running{startNode(t, rs, "n1", ""), startNode(t, rs, "n2", ""), startNode(t, rs, "n3", "", "--drain")}
	cs := meet(t, nodes, "#d", "alice", "bob", "dora")
	alice, bob, dora := cs[0], cs[1], cs[2]
	alice.Send("PRIVMSG #d :before the drain")
	mark := collect(dora, "#d", "before the drain")
	// Dora's last lines are still in her node's history queue when it is
	// told to stop: the drain must store them before leaving.
	var want []string
	for i := range 3 {
		text := fmt.Sprintf("dora's last words %d", i)
		dora.Send("PRIVMSG #d :%s", text)
		want = append(want, text)
	}
	dora.Sync()

	nodes[2].signal(syscall.SIGTERM)
	drained := time.Now()
	if lines := dora.ExpectClosed(); !containsMatch(lines, `^ERROR :.*`+drainReason) {
		t.Errorf("draining node's client got %q, want an ERROR asking to reconnect", lines)
	}
	for _, c := range []*client{alice, bob} {
		c.Expect(`:dora!\S+ QUIT :.*` + drainReason + `$`)
	}
	// A node that left without saying so would show after the lease.
	took := time.Since(drained)
	if took >= clusterLease {
		t.Errorf("peers saw the drained node's user quit after %v, want well before the %v lease", took, clusterLease)
	}
	t.Logf("peers saw the drained node's user quit %v after SIGTERM", took.Round(time.Millisecond))
	if code := nodes[2].wait(15 * time.Second); code != 0 {
		t.Errorf("drained node exited with %d\nstderr:\n%s", code, nodes[2].stderr.String())
	}
	alice.Send("PRIVMSG #d :while dora moves")
	want = append(want, "while dora moves")

	back := joinAs(t, nodes[0], "dora")
	back.Join("#d")
	waitHistory(back, "#d", mark[len(mark)-1].msgid, want)
	back.Send("PRIVMSG #d :back on node 1")
	bob.Expect(`:dora!\S+ PRIVMSG #d :back on node 1$`)
}

// TestClusterBinaryRedisRestart: Redis goes away and comes back empty
// (no persistence). Clients stay connected; /readyz says not ready while
// Redis is down and ready after; the nodes claim their users' nicks
// again, and chat across nodes works once the subscriptions are back.
func TestClusterBinaryRedisRestart(t *testing.T) {
	rs, nodes := startCluster(t, 3, "--metrics-listen=127.0.0.1:0")
	nicks := []string{"alice", "bob", "carol"}
	cs := meet(t, nodes, "#r", nicks...)
	for _, d := range nodes {
		waitReady(t, d, http.StatusOK)
	}

	rs.Stop()
	for _, d := range nodes {
		waitReady(t, d, http.StatusServiceUnavailable)
	}
	for _, c := range cs {
		c.Sync() // still connected, still answered
	}
	rs.Restart()
	for _, d := range nodes {
		waitReady(t, d, http.StatusOK)
	}
	waitNickClaims(t, rs, map[string]int{"n1": 1, "n2": 1, "n3": 1})

	// Subscriptions come back as go-redis reconnects: probe until a line
	// crosses, then every line must reach every member once.
	deadline := time.Now().Add(expectTimeout)
	for i := 0; !crossed(cs[1], "PRIVMSG #r :probe"); i++ {
		if time.Now().After(deadline) {
			t.Fatal("no channel message crossed nodes after Redis came back")
		}
		cs[0].Send("PRIVMSG #r :probe %d", i)
	}
	for _, c := range cs {
		c.Sync()
	}
	var want []string
	for i, c := range cs {
		text := "after the restart from " + nicks[i]
		c.Send("PRIVMSG #r :%s", text)
		want = append(want, text)
	}
	for i, c := range cs {
		// Late probes may still arrive; they are not what is counted.
		got := filterPrefix(texts(collect(c, "#r", want...)), "after the restart")
		if !sameSet(got, want) {
			t.Errorf("%s got %q after the restart, want each of %q once", nicks[i], got, want)
		}
	}
}

// crossed reads c's lines for half a second and reports whether one of
// them held text.
func crossed(c *client, text string) bool {
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		line, err := c.ReadLine(time.Until(deadline))
		if err != nil {
			return false
		}
		if strings.Contains(line, text) {
			return true
		}
	}
	return false
}

// waitNickClaims waits until Redis's cluster nick table holds, for each
// node id, that many nicks, and no others.
func waitNickClaims(t *testing.T, rs *redistest.Server, want map[string]int) {
	t.Helper()
	deadline := time.Now().Add(expectTimeout)
	for {
		owners, err := rs.Client().HGetAll(t.Context(), "sc:{cl}:nicks").Result()
		got := map[string]int{}
		for _, node := range owners {
			got[node]++
		}
		if err == nil && maps.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nick claims per node %v (err %v), want %v", got, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReady polls d's /readyz until it answers status.
func waitReady(t *testing.T, d *running, status int) {
	t.Helper()
	deadline := time.Now().Add(expectTimeout)
	for {
		code, body := httpGet(t, "http://"+d.metricsAddr+"/readyz")
		if code == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %q, want %d", code, body, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// filterPrefix returns the lines that start with prefix.
func filterPrefix(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// TestClusterBinaryOverTLSRedis: the cluster's own Redis client takes the
// store's rediss:// URL and password file, so two nodes on a Redis that
// speaks only TLS and requires a password chat across, and both are
// registered there.
func TestClusterBinaryOverTLSRedis(t *testing.T) {
	const redisPW = "redis-cluster-secret-Qe41"
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	rdb, port := startTLSRedis(t, dir, ca, redisPW)
	pwFile := filepath.Join(dir, "redis.pw")
	writeFile(t, pwFile, redisPW+"\n", 0o600)
	url := fmt.Sprintf("rediss://127.0.0.1:%d/0", port)
	var nodes []*running
	for _, id := range []string{"n1", "n2"} {
		nodes = append(nodes, startDaemon(t, daemonSpec{
			env:  append(passwordEnv(roomPassword), "SSL_CERT_FILE="+ca.certFile),
			args: clusterArgs(url, id, "--redis-password-file="+pwFile),
		}))
	}
	cs := meet(t, nodes, "#tls", "alice", "bob")
	cs[0].Send("PRIVMSG #tls :over rediss, across nodes")
	cs[1].Expect(`:alice!\S+ PRIVMSG #tls :over rediss, across nodes$`)
	if ids, err := rdb.ZRange(t.Context(), "sc:{cl}:nodes", 0, -1).Result(); err != nil || !slices.Equal(ids, []string{"n1", "n2"}) {
		t.Errorf("nodes registered in the TLS Redis: %q (err %v), want n1 and n2", ids, err)
	}
}

// TestClusterBinaryOnRedisCluster: three nodes on a real 3-master Redis
// Cluster (--redis-cluster) chat across nodes, with private messages.
func TestClusterBinaryOnRedisCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3)
	var nodes []*running
	for _, id := range []string{"n1", "n2", "n3"} {
		nodes = append(nodes, startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: clusterArgs(rc.URL(), id, "--redis-cluster")}))
	}
	cs := meet(t, nodes, "#slots", "alice", "bob", "carol")
	var want []string
	for i, c := range cs {
		text := fmt.Sprintf("over the cluster from %d", i)
		c.Send("PRIVMSG #slots :%s", text)
		want = append(want, text)
	}
	for _, c := range cs {
		if got := texts(collect(c, "#slots", want...)); !sameSet(got, want) {
			t.Errorf("%s got %q, want each of %q once", c.Nick, got, want)
		}
	}
	cs[0].Send("PRIVMSG carol :psst, across masters")
	cs[2].Expect(`:alice!\S+ PRIVMSG carol :psst, across masters$`)
}
