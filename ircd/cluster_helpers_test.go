package ircd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"securechat/ircd/cluster"
	"securechat/store/redistest"
)

// testLease keeps node loss quick to see in tests.
const clusterTestLease = 1500 * time.Millisecond

// clusterEnv is several in-process nodes on one real redis-server,
// sharing its store and the room's keys, as nodes on several machines do.
type clusterEnv struct {
	*redisEnv
	nodes   []*testServer
	clients []*redis.Client // each node's cluster client, in the order of nodes
}

func newClusterEnv(t *testing.T, n int, opts ...serverOption) *clusterEnv {
	t.Helper()
	e := &clusterEnv{redisEnv: newRedisEnv(t)}
	for i := range n {
		e.nodes = append(e.nodes, e.node(t, fmt.Sprintf("node%d", i+1), opts...))
	}
	e.waitPeers(t, n)
	return e
}

// node starts one more node with the given id.
func (e *clusterEnv) node(t *testing.T, id string, opts ...serverOption) *testServer {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: e.redis.Addr(), Protocol: 2})
	t.Cleanup(func() { _ = client.Close() })
	e.clients = append(e.clients, client)
	cfg := &cluster.Config{Client: client, NodeID: id, Lease: clusterTestLease}
	return e.server(t, append([]serverOption{func(s *testServerSetup) { s.cluster = cfg }}, opts...)...)
}

// waitPeers waits until every node sees n nodes.
func (e *clusterEnv) waitPeers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, ts := range e.nodes {
		for ts.srv.link.nodes() != n {
			if time.Now().After(deadline) {
				t.Fatalf("node %s sees %d nodes, want %d", ts.srv.link.id, ts.srv.link.nodes(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// waitNick waits until ts knows nick, local or remote.
func waitNick(t *testing.T, ts *testServer, nick string) *Client {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c := ts.srv.lookupClient(nick); c != nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never learnt of %s", ts.srv.link.id, nick)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var _ = redistest.Start

// waitMember waits until ts sees nick in channel.
func waitMember(t *testing.T, ts *testServer, channel, nick string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ch := ts.srv.lookupChannel(channel); ch != nil {
			if u := ts.srv.lookupClient(nick); u != nil {
				if _, ok := ch.privs(u); ok {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never saw %s in %s", ts.srv.link.id, nick, channel)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func splitWords(s string) []string { return strings.Fields(s) }

// waitAway waits until ts sees nick away.
func waitAway(t *testing.T, ts *testServer, nick string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !waitNick(t, ts, nick).isAway() {
		if time.Now().After(deadline) {
			t.Fatalf("%s never saw %s away", ts.srv.link.id, nick)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone waits until ts no longer knows nick.
func waitGone(t *testing.T, ts *testServer, nick string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ts.srv.lookupClient(nick) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s still knows %s", ts.srv.link.id, nick)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
