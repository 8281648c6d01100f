package ircd

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// BenchmarkChannelRelay measures the daemon's own CPU for relaying one
// channel message to 49 members — flood check aside, everything from the
// handler to the members' send queues, including sealing and queueing the
// history record — without sockets, so kernel time is left out. The
// load generator's maxrate scenario measures the whole path.
func BenchmarkChannelRelay(b *testing.B) {
	ts := newTestServer(b)
	members := benchMembers(ts.srv, "#bench", 50)
	sender := members[0]
	text := "hello there " + strings.Repeat("lorem ipsum ", 6)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := ts.srv.messageOne(sender, "PRIVMSG", "#bench", text, nil, time.Now()); err != nil {
			b.Fatal(err)
		}
		if n++; n%16 == 0 { // as a reader flushes after a read of several lines
			sender.flushPending()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(len(members)-1)), "ns/delivery")
}

// benchMembers puts n registered clients, whose sockets discard what is
// written, into channel name.
func benchMembers(s *Server, name string, n int) []*Client {
	ch := s.channelFor(name)
	out := make([]*Client, n)
	for i := range out {
		c := s.newClient(discardConn{}, netip.MustParseAddr("127.0.0.1"), false, "plain")
		c.nick, c.nickFolded, c.user, c.registered = fmt.Sprintf("m%d", i), fmt.Sprintf("m%d", i), "~u", true
		c.caps.set(capServerTime|capMessageTags, 0)
		if numeric := ch.add(c, "", nil); numeric != "" {
			panic(numeric)
		}
		out[i] = c
	}
	return out
}

// discardConn is a socket that takes every write and never has input.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error)      { return len(b), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) Close() error                     { return nil }
