package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"securechat/store/redistest"
)

// TestClusterBinaryScan runs a clustered session — users on three nodes,
// a channel with a topic, chat, a private message across nodes, a nick
// change, an away message — while MONITOR records every command Redis
// runs, then reads every key and value. No nick, channel name, topic,
// text or the room password may appear in any of them, in any case.
func TestClusterBinaryScan(t *testing.T) {
	// Uncompressed DUMP payloads, so a leaked string shows verbatim.
	rs := redistest.Start(t, redistest.WithArgs("--rdbcompression", "no"))
	mon := rs.Monitor()
	var nodes []*running
	for i := range 3 {
		nodes = append(nodes, startNode(t, rs, fmt.Sprintf("n%d", i+1), ""))
	}
	markers := []string{"nickqz8a", "nickqz8b", "nickqz8c", "renamedqz8", "chanqz8", "topicqz8", "textqz8", "dmtextqz8", "awayqz8", roomPassword}
	cs := meet(t, nodes, "#chanqz8", "nickqz8a", "nickqz8b", "nickqz8c")
	a, b, c := cs[0], cs[1], cs[2]
	a.Send("TOPIC #chanqz8 :the topicqz8 of the day")
	b.Expect(` TOPIC #chanqz8 :the topicqz8 of the day$`)
	a.Send("PRIVMSG #chanqz8 :hello textqz8 there")
	c.Expect(`:nickqz8a!\S+ PRIVMSG #chanqz8 :hello textqz8 there$`)
	b.Send("PRIVMSG nickqz8c :psst dmtextqz8")
	c.Expect(`:nickqz8b!\S+ PRIVMSG nickqz8c :psst dmtextqz8$`)
	c.Send("NICK renamedqz8")
	a.Expect(`:nickqz8c!\S+ NICK :?renamedqz8$`)
	a.Send("AWAY :gone awayqz8")
	a.Sync()
	b.Send("PRIVMSG #chanqz8 :last textqz8 line")
	a.Expect(`:nickqz8b!\S+ PRIVMSG #chanqz8 :last textqz8 line$`)
	waitLatest(a, "#chanqz8", "last textqz8 line")

	lines := strings.Join(mon.Sync(), "\n")
	for _, cmd := range []string{`"spublish"`, `"evalsha"`, `"xadd"`} {
		if !strings.Contains(strings.ToLower(lines), cmd) {
			t.Errorf("MONITOR saw no %s: the scan would not cover what crosses between nodes", cmd)
		}
	}
	assertNoMarker(t, "MONITOR", []byte(lines), markers)
	values := dumpAll(t, rs.Client())
	if len(values) < 10 {
		t.Fatalf("only %d keys in Redis during the session", len(values))
	}
	for key, v := range values {
		assertNoMarker(t, "key "+key, []byte(key), markers)
		assertNoMarker(t, "value of "+key, v, markers)
	}
	// The scan itself must see plaintext where there is some.
	rs.Client().Set(t.Context(), "canary", "the topicqz8 in clear", 0)
	if v := dumpAll(t, rs.Client())["canary"]; !bytes.Contains(v, []byte("topicqz8")) {
		t.Fatalf("the scan cannot see a plaintext value: %q", v)
	}
}

// waitLatest waits until target's latest history ends with text: its
// sender's node has stored it.
func waitLatest(c *client, target, text string) {
	c.T().Helper()
	deadline := time.Now().Add(expectTimeout)
	for {
		got := chathistory(c, "LATEST", target, "* 1")
		if len(got) == 1 && got[0].text == text {
			return
		}
		if time.Now().After(deadline) {
			c.T().Fatalf("%s: latest history of %s is %q, want %q", c.Nick, target, texts(got), text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dumpAll returns every key (SCAN) with its DUMP serialization, which
// holds every type's content.
func dumpAll(t *testing.T, rc *redis.Client) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	iter := rc.Scan(t.Context(), 0, "*", 100).Iterator()
	for iter.Next(t.Context()) {
		k := iter.Val()
		v, err := rc.Dump(t.Context(), k).Result()
		if err != nil && err != redis.Nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		out[k] = []byte(v)
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	return out
}

// assertNoMarker fails the test if data contains a marker, in any case.
func assertNoMarker(t *testing.T, what string, data []byte, markers []string) {
	t.Helper()
	lower := bytes.ToLower(data)
	for _, m := range markers {
		if bytes.Contains(lower, []byte(strings.ToLower(m))) {
			t.Errorf("%s contains %q", what, m)
		}
	}
}
