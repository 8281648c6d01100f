package ircd

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/irc.v4"

	"securechat/config"
	"securechat/crypto"
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
	cfg   *config.Config
	store store.Store
	vault *crypto.Vault
}

func withConfig(f func(*config.Config)) serverOption {
	return func(s *testServerSetup) { f(s.cfg) }
}

func withStore(st store.Store, v *crypto.Vault) serverOption {
	return func(s *testServerSetup) { s.store, s.vault = st, v }
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
	setup := &testServerSetup{cfg: testConfig(t)}
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
	srv, err := NewServer(setup.cfg, Deps{Vault: setup.vault, Store: setup.store, Metrics: m, TLS: certs.TLSConfig(), Version: "test"})
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

// testClient speaks raw IRC lines to the server, transcript style.
type testClient struct {
	t    testing.TB
	nc   net.Conn
	r    *bufio.Reader
	nick string
}

func (ts *testServer) dial() *testClient { return ts.dialWith(0) }

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
	ts.t.Cleanup(func() { _ = nc.Close() })
	return &testClient{t: ts.t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *testClient) send(format string, args ...any) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c.nc, format+"\r\n", args...); err != nil {
		c.t.Fatalf("send %q: %v", format, err)
	}
}

// readLine returns the next line, or "" and the error.
func (c *testClient) readLine(timeout time.Duration) (string, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	line, err := c.r.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// expect reads lines until one matches pattern and returns it parsed; the
// lines skipped are returned too, for assertions about what came before.
func (c *testClient) expect(pattern string) *irc.Message {
	c.t.Helper()
	m, _ := c.expectAfter(pattern)
	return m
}

func (c *testClient) expectAfter(pattern string) (*irc.Message, []string) {
	c.t.Helper()
	re := regexp.MustCompile(pattern)
	var skipped []string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		line, err := c.readLine(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("%s: waiting for %q: %v (skipped %q)", c.nick, pattern, err, skipped)
		}
		if re.MatchString(line) {
			m, err := irc.ParseMessage(line)
			if err != nil {
				c.t.Fatalf("unparsable line %q", line)
			}
			return m, skipped
		}
		skipped = append(skipped, line)
	}
	c.t.Fatalf("%s: timed out waiting for %q (skipped %q)", c.nick, pattern, skipped)
	return nil, nil
}

// expectClosed reads until the server closes the connection and returns
// everything it sent.
func (c *testClient) expectClosed() []string {
	c.t.Helper()
	var lines []string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		line, err := c.readLine(time.Until(deadline))
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				break
			}
			return lines
		}
		lines = append(lines, line)
	}
	c.t.Fatalf("%s: connection not closed; got %d lines, last %q", c.nick, len(lines), lines[max(0, len(lines)-2):])
	return nil
}

// quiet asserts nothing matching pattern arrives within d.
func (c *testClient) quiet(pattern string, d time.Duration) {
	c.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		line, err := c.readLine(time.Until(deadline))
		if err != nil {
			return
		}
		if re.MatchString(line) {
			c.t.Fatalf("%s: unexpected %q", c.nick, line)
		}
	}
}

// sync waits until the server has processed everything sent so far.
func (c *testClient) sync() {
	c.t.Helper()
	tok := fmt.Sprintf("sync%d", time.Now().UnixNano())
	c.send("PING %s", tok)
	c.expect(`PONG \S+ :?` + tok + `$`)
}

// register connects a client with SASL PLAIN and the given extra caps and
// waits for the end of the welcome burst.
func (ts *testServer) register(nick string, caps ...string) *testClient {
	ts.t.Helper()
	c := ts.dial()
	c.nick = nick
	c.send("CAP LS 302")
	c.send("NICK %s", nick)
	c.send("USER %s 0 * :Real %s", nick, nick)
	c.expect(`CAP \* LS`)
	c.send("CAP REQ :%s", strings.Join(append([]string{"sasl"}, caps...), " "))
	c.expect(`CAP \S+ ACK`)
	c.send("AUTHENTICATE PLAIN")
	c.expect(`AUTHENTICATE \+`)
	c.send("AUTHENTICATE %s", saslPlain(nick, testPassword))
	c.expect(` 903 `)
	c.send("CAP END")
	c.expect(` 001 `)
	c.expect(` (376|422) `)
	return c
}

// registerPass connects a client that authenticates with PASS only.
func (ts *testServer) registerPass(nick string) *testClient {
	ts.t.Helper()
	c := ts.dial()
	c.nick = nick
	c.send("PASS :%s", testPassword)
	c.send("NICK %s", nick)
	c.send("USER %s 0 * :Real %s", nick, nick)
	c.expect(` 001 `)
	c.expect(` (376|422) `)
	return c
}

func saslPlain(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
}

// join makes c join channel and waits for the end of NAMES.
func (c *testClient) join(channel string) {
	c.t.Helper()
	c.send("JOIN %s", channel)
	c.expect(` 366 \S+ ` + regexp.QuoteMeta(channel) + ` `)
}
