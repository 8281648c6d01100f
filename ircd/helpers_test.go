package ircd

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"securechat/config"
	"securechat/crypto"
	"securechat/ircd/accounts"
	"securechat/ircd/cluster"
	"securechat/ircd/history"
	"securechat/ircd/irctest"
	"securechat/ircd/push"
	"securechat/metrics"
	"securechat/store"
)

const testPassword = "correct horse battery staple"

// cheapKDF keeps tests fast; production parameters are tested in crypto.
var cheapKDF = crypto.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// testServer is a real server on a loopback TLS listener.
type testServer struct {
	t       testing.TB
	srv     *Server
	addr    string
	cfg     *config.Config
	store   store.Store
	vault   *crypto.Vault
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	tlsConf *tls.Config
}

// serverOption adjusts a test server before it starts.
type serverOption func(*testServerSetup)

type testServerSetup struct {
	cfg      *config.Config
	store    store.Store
	vault    *crypto.Vault
	log      *slog.Logger             // nil: the server discards its log
	throttle accounts.ThrottleOptions // for the account registry, with accounts on
	push     func(*push.Config)       // the Web Push sender's tuning; see testPushTuning
	cluster  *cluster.Config          // makes the server a cluster node; see withCluster
}

func withConfig(f func(*config.Config)) serverOption {
	return func(s *testServerSetup) { f(s.cfg) }
}

func withStore(st store.Store, v *crypto.Vault) serverOption {
	return func(s *testServerSetup) { s.store, s.vault = st, v }
}

// withLog gives the server a logger writing to h, for tests that watch
// what it logs.
func withLog(h slog.Handler) serverOption {
	return func(s *testServerSetup) { s.log = slog.New(h) }
}

func testConfig(t testing.TB) *config.Config {
	cfg := config.Defaults()
	cfg.ServerName = "irc.test"
	cfg.Network = "TestNet"
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.FloodExempt = nil
	cfg.FloodRate, cfg.FloodBurst = 1000, 1000 // flood tests lower these
	cfg.ConnRatePerIP, cfg.MaxConnsPerIP = 0, 0
	cfg.AuthFailLimit = 0
	return &cfg
}

func newTestVault(t testing.TB) *crypto.Vault {
	v, err := crypto.NewKeyring([]byte(testPassword), cheapKDF, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newTestServer(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	setup := &testServerSetup{cfg: testConfig(t), push: testPushTuning}
	for _, o := range opts {
		o(setup)
	}
	if setup.store == nil {
		setup.store = store.NewMemory(store.Options{MaxLen: setup.cfg.HistoryMaxLen})
		setup.vault = newTestVault(t)
	}
	certs, err := config.NewCertificates(setup.cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	h := history.New(setup.vault, setup.store, history.Options{QueueSize: setup.cfg.WriteQueueSize, Metrics: m, Log: setup.log, Shared: setup.cluster != nil})
	var accts *accounts.Registry
	if setup.cfg.Accounts {
		accts, err = accounts.Open(context.Background(), h, accounts.Options{KDF: cheapKDF, Throttle: setup.throttle})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv, err := NewServer(setup.cfg, Deps{History: h, Accounts: accts, Metrics: m, TLS: certs.TLSConfig(), Version: "test", Log: setup.log, PushTuning: setup.push, Cluster: setup.cluster})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", setup.cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(ln, true)
	ts := &testServer{t: t, srv: srv, addr: ln.Addr().String(), cfg: setup.cfg, store: setup.store,
		vault: setup.vault, reg: reg, metrics: m, tlsConf: &tls.Config{InsecureSkipVerify: true}}
	t.Cleanup(func() { ts.shutdown() })
	return ts
}

func (ts *testServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ts.srv.Shutdown(ctx)
}

// testClient speaks raw IRC lines to the server, transcript style. It
// embeds the shared client so that tests here can add their own methods.
type testClient struct {
	*irctest.Client
}

func (ts *testServer) dial() *testClient { return ts.dialWith(0) }

// loopbackListener listens on a free loopback port until the test ends.
func loopbackListener(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
	return ln
}

// tcpPair returns both ends of a new TCP connection to ln, closed when the
// test ends.
func tcpPair(tb testing.TB, ln net.Listener) (accepted, dialed net.Conn) {
	tb.Helper()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	accepted, err = ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = accepted.Close(); _ = dialed.Close() })
	return accepted, dialed
}

// dialWith connects over TLS; a positive rcvbuf shrinks the socket's
// receive buffer, so a client that stops reading backs up quickly.
func (ts *testServer) dialWith(rcvbuf int) *testClient {
	ts.t.Helper()
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		ts.t.Fatalf("dial: %v", err)
	}
	if rcvbuf > 0 {
		_ = raw.(*net.TCPConn).SetReadBuffer(rcvbuf)
	}
	nc := tls.Client(raw, ts.tlsConf)
	if err := nc.Handshake(); err != nil {
		ts.t.Fatalf("handshake: %v", err)
	}
	return &testClient{irctest.NewClient(ts.t, nc)}
}

// register connects a client with SASL PLAIN and the given extra caps and
// waits for the end of the welcome burst.
func (ts *testServer) register(nick string, caps ...string) *testClient {
	ts.t.Helper()
	c := ts.dial()
	c.RegisterSASL(nick, testPassword, caps...)
	return c
}

// registerPass connects a client that authenticates with PASS only.
func (ts *testServer) registerPass(nick string) *testClient {
	ts.t.Helper()
	c := ts.dial()
	c.RegisterPass(nick, testPassword)
	return c
}

// state returns ch's settings as they would be persisted, and whether
// there is anything to persist.
func (ch *Channel) state() (history.ChannelState, bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if st := ch.stateLocked(); st != nil {
		return *st, true
	}
	return history.ChannelState{}, false
}
