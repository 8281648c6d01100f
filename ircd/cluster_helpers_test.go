package ircd

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"securechat/crypto"
	"securechat/ircd/cluster"
	"securechat/store"
	"securechat/store/redistest"
)

// testLease keeps node loss quick to see in tests.
const clusterTestLease = 1500 * time.Millisecond

// clusterEnv is several in-process nodes sharing one real Redis (a
// redis-server, or a 3-master Redis Cluster) for their store and their
// cluster state, and the room's keys, as nodes on several machines do.
type clusterEnv struct {
	store     store.Store
	vault     *crypto.Vault
	newClient func() redis.UniversalClient // a RESP2 client for one node
	redis     *redistest.Server            // the single redis-server; nil on a Redis Cluster
	prefix    string                       // of the cluster's keys; "" for the default
	nodes     []*testServer
	clients   []redis.UniversalClient // each node's cluster client, in the order of nodes
}

func newClusterEnv(t testing.TB, n int, opts ...serverOption) *clusterEnv {
	t.Helper()
	re := newRedisEnv(t)
	e := &clusterEnv{store: re.store, vault: re.vault, redis: re.redis, newClient: func() redis.UniversalClient {
		return redis.NewClient(&redis.Options{Addr: re.redis.Addr(), Protocol: 2})
	}}
	e.start(t, n, opts...)
	return e
}

// envFunc starts n nodes of a cluster.
type envFunc func(t testing.TB, n int, opts ...serverOption) *clusterEnv

// onRedisCluster returns an envFunc for nodes on a real 3-master Redis
// Cluster, rc; each env keeps to its own key prefix, so the tests of one
// cluster stay apart.
func onRedisCluster(rc *redistest.Cluster) envFunc {
	var envs atomic.Int32
	return func(t testing.TB, n int, opts ...serverOption) *clusterEnv {
		t.Helper()
		prefix := fmt.Sprintf("t%d:", envs.Add(1))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := store.OpenRedisCluster(ctx, rc.URL(), store.Options{MaxLen: 1000, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		e := &clusterEnv{store: st, vault: newTestVault(t), prefix: prefix, newClient: func() redis.UniversalClient {
			return rc.NewClient(func(o *redis.ClusterOptions) { o.Protocol = 2 })
		}}
		e.start(t, n, opts...)
		return e
	}
}

func (e *clusterEnv) start(t testing.TB, n int, opts ...serverOption) {
	t.Helper()
	for i := range n {
		e.nodes = append(e.nodes, e.node(t, fmt.Sprintf("node%d", i+1), opts...))
	}
	e.waitPeers(t, n)
}

// node starts one more node with the given id.
func (e *clusterEnv) node(t testing.TB, id string, opts ...serverOption) *testServer {
	t.Helper()
	client := e.newClient()
	t.Cleanup(func() { _ = client.Close() })
	e.clients = append(e.clients, client)
	cfg := &cluster.Config{Client: client, NodeID: id, Lease: clusterTestLease, Prefix: e.prefix}
	base := []serverOption{withStore(e.store, e.vault), func(s *testServerSetup) { s.cluster = cfg }}
	return newTestServer(t, append(base, opts...)...)
}

// waitPeers waits until every node sees n nodes.
func (e *clusterEnv) waitPeers(t testing.TB, n int) {
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
func waitNick(t testing.TB, ts *testServer, nick string) *Client {
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

// waitMember waits until ts sees nick in channel.
func waitMember(t testing.TB, ts *testServer, channel, nick string) {
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
func waitAway(t testing.TB, ts *testServer, nick string) {
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
func waitGone(t testing.TB, ts *testServer, nick string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ts.srv.lookupClient(nick) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s still knows %s", ts.srv.link.id, nick)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// together has each client join channel in turn, once every node has
// seen the ones before it there, so the members' order is the same on
// every node.
func (e *clusterEnv) together(t testing.TB, channel string, cs ...*testClient) {
	t.Helper()
	for _, c := range cs {
		c.JoinAndSync(channel)
		for _, ts := range e.nodes {
			waitMember(t, ts, channel, c.Nick)
		}
	}
}
