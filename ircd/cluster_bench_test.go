package ircd

import (
	"context"
	"strings"
	"testing"
	"time"
)

// BenchmarkClusterRelay measures a channel message from a user on one
// node to 49 members on another, through a real redis-server: the
// sender's relay and publish, Redis, and the receiving node's open,
// decode and delivery to the members' send queues (sockets discard).
// ns/op is per message at the rate the pipeline sustains.
func BenchmarkClusterRelay(b *testing.B) {
	e := newClusterEnv(b, 2)
	sender := benchMembers(e.nodes[0].srv, "#bench", 1)[0]
	far := e.nodes[1]
	benchMembers(far.srv, "#bench", 49)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := far.srv.link.c.Subscribe(ctx, far.srv.channelKey(far.srv.lookupChannel("#bench"))); err != nil {
		b.Fatal(err)
	}
	src := sender.srv
	text := "hello there " + strings.Repeat("lorem ipsum ", 6)
	start := far.srv.link.c.Stats().Received
	b.ReportAllocs()
	b.ResetTimer()
	n := b.N
	for i := range n {
		if err := src.messageOne(sender, "PRIVMSG", "#bench", text, nil, time.Now()); err != nil {
			b.Fatal(err)
		}
		if i%16 == 15 {
			sender.flushPending()
		}
		// A client's flood control paces it; here the sender waits while
		// the far node is a publish queue's half behind.
		for uint64(i)-(far.srv.link.c.Stats().Received-start) > 2048 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	// The time counts until the far node has delivered every message.
	for far.srv.link.c.Stats().Received-start < uint64(n) {
		if st := src.link.c.Stats(); st.PublishDropped > 0 {
			b.Fatalf("%d messages dropped by a full publish queue", st.PublishDropped)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*49), "ns/delivery")
}
