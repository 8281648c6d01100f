package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"securechat/store/redistest"
)

// TestRedisClusterStore runs the daemon with --redis-cluster on a real
// 3-master Redis Cluster named by one seed and addr= parameters: a chat
// lands there sealed, with no nick, channel name or text readable on any
// master, and a second daemon on the same cluster replays it.
func TestRedisClusterStore(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	args := []string{"--redis=" + c.URL(), "--redis-cluster"}
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: args})
	chatFive(d, "alicecluster", "bobcluster", "#slotroom", "over-cluster")
	d.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var all []byte
	records := 0
	for _, srv := range c.Servers {
		all = append(all, redisText(t, srv.Client())...)
		keys, err := srv.Client().Keys(ctx, "sc:{*}h:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			records += int(srv.Client().XLen(ctx, k).Val())
		}
	}
	if records < 5 {
		t.Errorf("%d history records in the cluster's tagged streams, want the 5 messages", records)
	}
	assertNotIn(t, all, "alicecluster", "bobcluster", "slotroom", "over-cluster")

	d2 := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: args})
	carol, _ := d2.register("carol", roomPassword)
	if lines := carol.JoinAndSync("#slotroom"); !containsMatch(lines, ` PRIVMSG #slotroom :.*over-cluster-4$`) {
		t.Errorf("history from the cluster not replayed: %q", strings.Join(lines, "\n"))
	}
}

// chatFive registers from and to on d, joins both to channel, and has
// from send text-0 … text-4 there, each of which to must receive.
func chatFive(d *running, from, to, channel, text string) {
	d.t.Helper()
	sender, _ := d.register(from, roomPassword)
	receiver, _ := d.register(to, roomPassword)
	sender.JoinAndSync(channel)
	receiver.JoinAndSync(channel)
	for i := range 5 {
		sender.Send("PRIVMSG %s :%s-%d", channel, text, i)
		receiver.Expect(fmt.Sprintf(` :?%s-%d$`, text, i))
	}
}
