package load

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"securechat/config"
	"securechat/crypto"
	"securechat/ircd"
	"securechat/ircd/cluster"
	"securechat/ircd/history"
	"securechat/metrics"
	"securechat/store"
	"securechat/store/redistest"
)

// clusterLease keeps a lost node's nicks held long enough for its users'
// reconnects to meet 433, and short enough for the test.
const clusterLease = 1500 * time.Millisecond

// clusterNode is one in-process securechatd node of a test cluster.
type clusterNode struct {
	srv    *ircd.Server
	addr   string
	client *redis.Client // its cluster connection
}

// crash stops the node as a SIGKILL would look to the others: it stops
// renewing its lease (its nicks stay held until the lease runs out) and its
// connections drop.
func (n *clusterNode) crash() {
	_ = n.client.Close()
	n.stop(n.srv.Shutdown)
}

// drain stops the node as securechatd --drain does on SIGTERM.
func (n *clusterNode) drain() { n.stop(n.srv.Drain) }

func (n *clusterNode) stop(how func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = how(ctx)
}

// startCluster starts n clustered servers with password on one real
// redis-server, sharing its history store and the room's keys as nodes on
// several machines do, each on its own TLS loopback listener.
func startCluster(t *testing.T, n int, password string) []*clusterNode {
	t.Helper()
	rs := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := store.OpenRedis(ctx, rs.URL(), store.Options{MaxLen: 100000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	vault, err := crypto.NewKeyring([]byte(password), crypto.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*clusterNode
	for i := range n {
		nodes = append(nodes, startNode(t, fmt.Sprintf("node%d", i+1), rs.Addr(), st, vault))
	}
	for _, nd := range nodes {
		waitServers(t, nd.addr, password, n)
	}
	return nodes
}

// startNode starts one node of the cluster on the redis-server at
// redisAddr.
func startNode(t *testing.T, id, redisAddr string, st store.Store, vault *crypto.Vault) *clusterNode {
	t.Helper()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.FloodExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	certs, err := config.NewCertificates(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(&redis.Options{Addr: redisAddr, Protocol: 2})
	t.Cleanup(func() { _ = client.Close() })
	m := metrics.New(prometheus.NewRegistry(), "test")
	h := history.New(vault, st, history.Options{QueueSize: cfg.WriteQueueSize, Metrics: m})
	srv, err := ircd.NewServer(&cfg, ircd.Deps{History: h, Metrics: m, TLS: certs.TLSConfig(), Version: "test",
		Cluster: &cluster.Config{Client: client, NodeID: id, Lease: clusterLease}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(ln, true)
	nd := &clusterNode{srv: srv, addr: ln.Addr().String(), client: client}
	t.Cleanup(func() { nd.stop(srv.Shutdown) })
	return nd
}

// waitServers waits until the node at addr counts n servers in LUSERS.
func waitServers(t *testing.T, addr, password string, n int) {
	t.Helper()
	cfg := Config{TLS: true, SkipVerify: true, Auth: "sasl", Password: password, Scenario: ScenarioSteady}
	want := fmt.Sprintf(" on %d servers", n)
	for try, deadline := 0, time.Now().Add(10*time.Second); ; try, _ = try+1, sleep(context.Background(), 50*time.Millisecond) {
		// A nick of its own each time: the cluster frees a nick after
		// the QUIT has gone round.
		_, port, _ := net.SplitHostPort(addr)
		nick := fmt.Sprintf("probe-%s-%d", port, try)
		c, err := dialConn(context.Background(), &cfg, addr, "tcp", cfg.tlsConfig(addr), nick, "x")
		if err != nil {
			t.Fatal(err)
		}
		c.nc.SetDeadline(time.Now().Add(5 * time.Second))
		var line string
		err = c.register(&cfg)
		if err == nil {
			err = c.send("LUSERS")
		}
		if err == nil {
			err = c.until(func(m *message) (bool, error) {
				line = m.param(len(m.params) - 1)
				return m.command == "251", nil
			})
		}
		c.close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(line, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q, want %d servers", addr, line, n)
		}
	}
}

// TestReconnectAfterNodeLoss runs steady fan-out with --reconnect over
// three clustered nodes and, in the measured window, takes the second
// node down, crashed or drained. Every user of that node must come back
// through another node and fill its gap from history: nothing lost, no
// live duplicate, and the gap fill recovers messages. At 400 msg/s in two
// channels a channel carries a message every 5 ms, far less than a
// reconnect takes (TLS, registration, JOIN, CHATHISTORY), so each dropped
// user has missed some.
func TestReconnectAfterNodeLoss(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stop  func(*clusterNode)
		crash bool // the lost node's nicks stay held until its lease ends
	}{
		{"crash", (*clusterNode).crash, true},
		{"drain", (*clusterNode).drain, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := startCluster(t, 3, "integration-pw")
			addrs := []string{nodes[0].addr, nodes[1].addr, nodes[2].addr}
			// 24 users in 2 channels: 4 of each channel on each node;
			// senders 1 and 2 are on the second node.
			cfg, err := ParseArgs([]string{"--addr", strings.Join(addrs, ","), "--scenario", "steady", "--reconnect",
				"--users", "24", "--channels", "2", "--senders", "6", "--rate", "400",
				"--fill-overlap", "1s", "--warmup", "500ms", "--duration", "4s", "--drain", "10s", "--password", "integration-pw"}, func(string) string { return "" }, nil)
			if err != nil {
				t.Fatal(err)
			}
			lost := 0
			for i := range cfg.Users {
				if nodeOf(i, cfg.Channels, 3) == 1 {
					lost++
				}
			}
			type outcome struct {
				res *Result
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				res, err := Run(context.Background(), cfg, nil, false)
				done <- outcome{res, err}
			}()
			time.Sleep(2 * time.Second) // connected, in the measured window
			tc.stop(nodes[1])
			out := <-done
			var b strings.Builder
			WriteSummary(&b, out.res)
			t.Log("\n" + b.String())
			if out.err != nil {
				t.Fatal(out.err)
			}
			checkRecovered(t, out.res, int64(lost), tc.crash)
		})
	}
}

// checkRecovered checks a run in which drops users lost their node,
// crashed or drained.
func checkRecovered(t *testing.T, res *Result, drops int64, crash bool) {
	t.Helper()
	rc, m := res.Reconnect, res.Messages
	if rc == nil || m == nil {
		t.Fatalf("no reconnect section: %+v", res)
	}
	if rc.Drops != drops || rc.Reconnections != drops || rc.NeverBack != 0 || rc.BackMS.Count != int(drops) {
		t.Errorf("drops %d, back %d, never back %d, back_ms %+v; want all %d back", rc.Drops, rc.Reconnections, rc.NeverBack, rc.BackMS, drops)
	}
	if m.Duplicates != 0 || m.Foreign != 0 || m.Unstored != 0 || rc.LiveDuplicates != 0 || rc.Lost != m.Lost {
		t.Errorf("messages %+v", *m)
	}
	if rc.LostByDropped != 0 || rc.AbsentFromHistory != 0 || rc.AuditError != "" || (m.Lost == 0) != (rc.LostMessages == 0) {
		t.Errorf("lost %d, to dropped users %d; lost messages %d, absent from history %d; audit error %q",
			m.Lost, rc.LostByDropped, rc.LostMessages, rc.AbsentFromHistory, rc.AuditError)
	}
	// The in-process crash (see clusterNode.crash) can take a message
	// after its cluster link is gone: history has it, the other nodes'
	// users never get it live. A drain must lose nothing.
	if m.Lost != 0 && !crash {
		t.Errorf("lost %d: want none", m.Lost)
	}
	if m.Recovered == 0 || rc.Recovered != m.Recovered || m.Received == 0 {
		t.Errorf("messages %+v: want some recovered from history", *m)
	}
	if crash && rc.AltNicks == 0 {
		t.Errorf("no user came back under an alternate nick, though the lost node's lease held their nicks")
	}
	if rc.Outages != 1 || rc.WindowSeconds <= 0 || rc.OthersInOutageMS.Count == 0 || rc.OutsideMS.Count == 0 {
		t.Errorf("outages %d window %.2fs, live in it %+v, outside %+v", rc.Outages, rc.WindowSeconds, rc.OthersInOutageMS, rc.OutsideMS)
	}
	if res.Errors.Total != 0 {
		t.Errorf("errors %+v", res.Errors)
	}
}
