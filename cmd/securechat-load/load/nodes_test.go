package load

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"securechat/config"
	"securechat/crypto"
	"securechat/ircd"
	"securechat/ircd/history"
	"securechat/metrics"
	"securechat/store"
)

func TestParseArgsAddrLists(t *testing.T) {
	runParseCases(t, []parseCase{
		{name: "one address is a list of one", env: "pw", args: []string{"--addr", "127.0.0.1:6697"}, check: func(t *testing.T, c Config) {
			if !slices.Equal(c.Addrs, []string{"127.0.0.1:6697"}) || c.WebAddrs != nil {
				t.Errorf("addrs %q web %q", c.Addrs, c.WebAddrs)
			}
		}},
		{name: "three nodes", env: "pw", args: []string{"--addr", "127.0.0.1:1, [::1]:2 ,localhost:3"}, check: func(t *testing.T, c Config) {
			if !slices.Equal(c.Addrs, []string{"127.0.0.1:1", "[::1]:2", "localhost:3"}) {
				t.Errorf("addrs %q", c.Addrs)
			}
			if got := strings.Join(c.targets(), ","); got != "127.0.0.1:1,[::1]:2,localhost:3" {
				t.Errorf("targets %s", got)
			}
		}},
		{name: "web listeners pair with nodes", env: "pw", args: []string{"--addr", "127.0.0.1:1,127.0.0.1:2", "--transport", "mixed",
			"--web-addr", "127.0.0.1:11,127.0.0.1:12"}, check: func(t *testing.T, c Config) {
			if c.dialAddr(1, "ws") != "127.0.0.1:12" || c.dialAddr(1, "tcp") != "127.0.0.1:2" {
				t.Errorf("node 1 dials ws %s tcp %s", c.dialAddr(1, "ws"), c.dialAddr(1, "tcp"))
			}
		}},
		{name: "ws reports the web listeners", env: "pw", args: []string{"--addr", "127.0.0.1:1,127.0.0.1:2", "--transport", "ws",
			"--web-addr", "127.0.0.1:11,127.0.0.1:12"}, check: func(t *testing.T, c Config) {
			if got := strings.Join(c.targets(), ","); got != "127.0.0.1:11,127.0.0.1:12" {
				t.Errorf("targets %s", got)
			}
		}},
		{name: "empty entry", env: "pw", args: []string{"--addr", "127.0.0.1:1,,127.0.0.1:2"}, wantErr: `--addr: address "": missing port`},
		{name: "entry without port", env: "pw", args: []string{"--addr", "127.0.0.1:1,127.0.0.1"}, wantErr: `--addr: address "127.0.0.1"`},
		{name: "no address", env: "pw", args: []string{"--addr", ""}, wantErr: "--addr: no address given"},
		{name: "one remote node refused", env: "pw", args: []string{"--addr", "127.0.0.1:1,10.0.0.2:6697"}, wantErr: `--addr: refusing non-loopback target "10.0.0.2:6697"`},
		{name: "remote nodes with flag", env: "pw", args: []string{"--addr", "10.0.0.1:6697,10.0.0.2:6697", "--i-own-this-server"}, check: func(t *testing.T, c Config) {
			if len(c.Addrs) != 2 {
				t.Errorf("addrs %q", c.Addrs)
			}
		}},
		{name: "node listed twice", env: "pw", args: []string{"--addr", "127.0.0.1:1,127.0.0.1:1"}, wantErr: `--addr lists "127.0.0.1:1" twice`},
		{name: "web list shorter", env: "pw", args: []string{"--addr", "127.0.0.1:1,127.0.0.1:2", "--transport", "ws", "--web-addr", "127.0.0.1:11"},
			wantErr: "--web-addr lists 1 addresses and --addr 2"},
		{name: "web list longer", env: "pw", args: []string{"--addr", "127.0.0.1:1", "--transport", "ws", "--web-addr", "127.0.0.1:11,127.0.0.1:12"},
			wantErr: "--web-addr lists 2 addresses and --addr 1"},
		{name: "remote web node refused", env: "pw", args: []string{"--addr", "127.0.0.1:1,127.0.0.1:2", "--transport", "mixed",
			"--web-addr", "127.0.0.1:11,10.0.0.1:443"}, wantErr: `--web-addr: refusing non-loopback target "10.0.0.1:443"`},
		{name: "web list with tcp", env: "pw", args: []string{"--addr", "127.0.0.1:1,127.0.0.1:2", "--web-addr", "127.0.0.1:11,127.0.0.1:12"},
			wantErr: "--web-addr applies"},
		{name: "channels too small for the nodes", env: "pw", args: []string{"--addr", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3",
			"--users", "20", "--channels", "10", "--senders", "2"}, wantErr: "fewer than 3 members"},
	})
}

// TestNodeSpread: for any number of addresses, every channel has members
// on every address (so its traffic crosses nodes), the senders are spread
// too, the addresses get users evenly, and the layout is the same on
// every run.
func TestNodeSpread(t *testing.T) {
	for _, tc := range []struct{ users, channels, senders, nodes int }{
		{1000, 10, 20, 3}, {1000, 10, 20, 2}, {50, 1, 5, 3}, {40, 4, 8, 4}, {12, 4, 4, 3}, {7, 2, 2, 1},
	} {
		c := Config{Users: tc.users, Channels: tc.channels, Senders: tc.senders, Addrs: make([]string, tc.nodes)}
		for i := range c.Addrs {
			c.Addrs[i] = "127.0.0.1:" + itoa(7000+i)
		}
		r := newRunner(&c, time.Now())
		onNode := make([]map[string]bool, tc.nodes) // channels with members there
		users, senders := make([]int, tc.nodes), make([]int, tc.nodes)
		for _, u := range r.users {
			if onNode[u.node] == nil {
				onNode[u.node] = map[string]bool{}
			}
			onNode[u.node][u.channel] = true
			users[u.node]++
			if u.sender {
				senders[u.node]++
			}
			if u.addr != c.Addrs[u.node] {
				t.Errorf("%+v: user %d on node %d dials %s", tc, u.idx, u.node, u.addr)
			}
		}
		for n := range tc.nodes {
			if len(onNode[n]) != tc.channels {
				t.Errorf("%+v: node %d has members of %d of the %d channels", tc, n, len(onNode[n]), tc.channels)
			}
			if users[n] < tc.users/tc.nodes-tc.channels || users[n] > tc.users/tc.nodes+tc.channels {
				t.Errorf("%+v: node %d has %d users", tc, n, users[n])
			}
			if tc.senders >= tc.nodes && senders[n] == 0 {
				t.Errorf("%+v: node %d has no sender", tc, n)
			}
		}
		again := newRunner(&c, time.Now())
		for i, u := range r.users {
			if again.users[i].node != u.node {
				t.Fatalf("%+v: user %d on node %d, then %d", tc, i, u.node, again.users[i].node)
			}
		}
	}
}

// TestTrackerSplitsPaths: deliveries from a sender on another address
// count as cross-node, the others as same-node, and the two add up to the
// totals.
func TestTrackerSplitsPaths(t *testing.T) {
	tr := NewTracker(3, []int{0, 1, 2})
	tr.SetCrossNode(func(s int) bool { return s == 2 })
	tr.Open(func(int) int64 { return 0 })
	for _, o := range []struct {
		sender int
		seq    int64
		ms     time.Duration
	}{{0, 0, 1}, {2, 0, 5}, {1, 0, 1}, {2, 1, 7}, {2, 1, 7}, {0, 1, 2}} {
		tr.Observe(o.sender, o.seq, o.ms*time.Millisecond, phaseMain)
	}
	tr.Observe(9, 0, 0, phaseMain)
	tr.Close(func(s int) int64 { return 3 })
	same, cross := tr.PathTotals(sameNode), tr.PathTotals(crossNode)
	if want := (Counts{Expected: 6, Received: 3, Lost: 3}); same != want {
		t.Errorf("same node %+v, want %+v", same, want)
	}
	if want := (Counts{Expected: 3, Received: 2, Lost: 1, Duplicates: 1}); cross != want {
		t.Errorf("cross node %+v, want %+v", cross, want)
	}
	if want := (Counts{Expected: 9, Received: 5, Lost: 4, Duplicates: 1, Foreign: 1}); tr.Totals() != want {
		t.Errorf("totals %+v, want %+v", tr.Totals(), want)
	}
	if h := tr.PathLatency(crossNode); h.Count() != 2 || h.Max() != 7*time.Millisecond {
		t.Errorf("cross-node latency: %d samples, max %v", h.Count(), h.Max())
	}
	if h := tr.PathLatency(sameNode); h.Count() != 3 || h.Max() != 2*time.Millisecond || tr.Latency().Count() != 5 {
		t.Errorf("same-node latency: %d samples, max %v; %d in all", h.Count(), h.Max(), tr.Latency().Count())
	}
}

// TestRunReportsRefusingNode spreads users over two servers of which the
// second refuses the password: its users are reported failed against its
// address, with the reason, while the first node's users run clean.
func TestRunReportsRefusingNode(t *testing.T) {
	good, bad := newFakeServer(t, "pw"), newFakeServer(t, "other")
	cfg := fakeConfig(t, good, "--addr", good.ln.Addr().String()+","+bad.ln.Addr().String(),
		"--users", "8", "--channels", "2", "--senders", "4", "--rate", "100")
	res, err := Run(context.Background(), cfg, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	WriteSummary(&b, res)
	t.Log("\n" + b.String())
	if len(res.Nodes) != 2 {
		t.Fatalf("nodes %+v", res.Nodes)
	}
	ok, refused := res.Nodes[0], res.Nodes[1]
	if ok.Addr != good.ln.Addr().String() || ok.Users != 4 || ok.Connected != 4 || ok.Failed != 0 || ok.FirstError != "" {
		t.Errorf("good node %+v", ok)
	}
	if refused.Addr != bad.ln.Addr().String() || refused.Users != 4 || refused.Connected != 0 || refused.Failed != 4 ||
		!strings.Contains(refused.FirstError, "904") {
		t.Errorf("refusing node %+v", refused)
	}
	if !strings.Contains(b.String(), "[1] "+bad.ln.Addr().String()+": 4 users (2 senders), connected 0 failed 4; first error:") {
		t.Error("the summary does not show the refusing node")
	}
	if m := res.Messages; m.Received == 0 || m.Lost != 0 || res.CrossNode.Messages.Expected != 0 {
		t.Errorf("messages %+v, cross node %+v", *m, *res.CrossNode.Messages)
	}
}

// TestSteadyOverTwoListeners runs steady fan-out with the users spread
// over two TLS listeners of one real server: half of each channel's
// members on each. Every delivery is accounted as same-node or
// cross-node with exact counts, nothing is lost, and both latencies are
// reported.
func TestSteadyOverTwoListeners(t *testing.T) {
	a, b := startTwoListeners(t, "integration-pw")
	// 2 channels of 4 members, all senders: each sender has one peer on
	// its own address and two on the other.
	res := runAgainst(t, "--addr", a+","+b, "--scenario", "steady", "--users", "8", "--channels", "2", "--senders", "8",
		"--rate", "200", "--warmup", "500ms", "--duration", "2s", "--drain", "5s")
	checkClean(t, res)
	if res.Addr != a+","+b || len(res.Nodes) != 2 || res.Nodes[0].Connected != 4 || res.Nodes[1].Connected != 4 {
		t.Fatalf("addr %s, nodes %+v", res.Addr, res.Nodes)
	}
	same, cross := res.SameNode, res.CrossNode
	for name, d := range map[string]*DeliveryResult{"same": same, "cross": cross} {
		if m := d.Messages; m.Received == 0 || m.Received != m.Expected || m.Duplicates != 0 || m.Reordered != 0 || d.LatencyMS.Count == 0 {
			t.Errorf("%s node: messages %+v latency %+v", name, *m, d.LatencyMS)
		}
	}
	if cross.Messages.Expected != 2*same.Messages.Expected {
		t.Errorf("expected %d cross-node and %d same-node deliveries, want twice as many cross", cross.Messages.Expected, same.Messages.Expected)
	}
	if same.Messages.Received+cross.Messages.Received != res.Messages.Received ||
		same.LatencyMS.Count+cross.LatencyMS.Count != res.LatencyMS.Count {
		t.Errorf("same %+v + cross %+v != all %+v (latency %d)", *same.Messages, *cross.Messages, *res.Messages, res.LatencyMS.Count)
	}
}

// startTwoListeners runs a real ircd.Server in this process with the
// given password, serving TLS on two loopback listeners, and returns their
// addresses. The daemon takes a single TLS --listen, so two addresses of
// one server need the server in-process.
func startTwoListeners(t *testing.T, password string) (a, b string) {
	t.Helper()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.FloodExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	vault, err := crypto.NewKeyring([]byte(password), crypto.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := config.NewCertificates(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(prometheus.NewRegistry(), "test")
	h := history.New(vault, store.NewMemory(store.Options{MaxLen: cfg.HistoryMaxLen}), history.Options{QueueSize: cfg.WriteQueueSize, Metrics: m})
	srv, err := ircd.NewServer(&cfg, ircd.Deps{History: h, Metrics: m, TLS: certs.TLSConfig(), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	listen := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv.Start(ln, true)
		return ln.Addr().String()
	}
	return listen(), listen()
}

// TestResultJSONNodes checks the field names of the per-node sections,
// that the per-transport split keeps its flat shape, and that a run
// against one address reports none of the node sections.
func TestResultJSONNodes(t *testing.T) {
	d := DeliveryResult{Messages: &Counts{Expected: 3, Received: 3}, LatencyMS: Dist{Count: 3, P99: 1}}
	m := jsonMap(t, &Result{Nodes: []NodeResult{{Addr: "127.0.0.1:1", Users: 2, Connected: 1, Failed: 1, FirstError: "x"}},
		SameNode: &d, CrossNode: &d, ByTransport: map[string]*TransportResult{"ws": {Users: 2, DeliveryResult: d}}})
	node := m["nodes"].([]any)[0].(map[string]any)
	for _, key := range []string{"addr", "users", "senders", "connected", "failed", "first_error"} {
		if _, ok := node[key]; !ok {
			t.Errorf("nodes[0] lacks %q", key)
		}
	}
	for _, sec := range []string{"same_node", "cross_node"} {
		lat := m[sec].(map[string]any)["latency_ms"].(map[string]any)
		for _, key := range []string{"p50", "p90", "p99", "max", "count"} {
			if _, ok := lat[key]; !ok {
				t.Errorf("%s.latency_ms lacks %q", sec, key)
			}
		}
		if _, ok := m[sec].(map[string]any)["messages"].(map[string]any)["received"]; !ok {
			t.Errorf("%s lacks messages.received", sec)
		}
	}
	ws := m["by_transport"].(map[string]any)["ws"].(map[string]any)
	for _, key := range []string{"users", "messages", "latency_ms"} {
		if _, ok := ws[key]; !ok {
			t.Errorf("by_transport.ws lacks %q", key)
		}
	}
	one := Config{Users: 4, Channels: 2, Addrs: []string{"127.0.0.1:1"}}
	if nodes := newRunner(&one, time.Now()).nodeResults(); nodes != nil {
		t.Errorf("one address reports nodes %+v", nodes)
	}
	single := jsonMap(t, &Result{})
	for _, key := range []string{"nodes", "same_node", "cross_node"} {
		if _, ok := single[key]; ok {
			t.Errorf("a single-address result has %q", key)
		}
	}
}
