package ircd

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"securechat/config"
)

func refusals(t *testing.T, ts *testServer, reason string) float64 {
	t.Helper()
	return counterValue(t, ts, "securechat_refused_connections_total", map[string]string{"reason": reason})
}

// refusedGreeting connects as a TLS client would and returns what the
// server writes inside TLS before it hangs up: the ERROR of a refused
// connection. A plaintext line before the handshake fails it instead.
func refusedGreeting(t *testing.T, ts *testServer) string {
	t.Helper()
	got, err := readRefusal(ts)
	if err != nil {
		t.Fatalf("reading a refusal over TLS: %v (got %q)", err, got)
	}
	return got
}

// readRefusal is refusedGreeting's work, returning its error.
func readRefusal(ts *testServer) (string, error) {
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		return "", err
	}
	defer raw.Close()
	nc := tls.Client(raw, ts.tlsConf)
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := nc.Handshake(); err != nil {
		return "", fmt.Errorf("TLS handshake: %w", err)
	}
	b, err := io.ReadAll(nc)
	return string(b), err
}

// TestRefusalHandshakeBudget: answering a refusal costs a TLS handshake,
// so only maxRefusing are answered at once; past that a refused
// connection is closed without a handshake, and once the others end,
// refusals are answered again.
func TestRefusalHandshakeBudget(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) { cfg.MaxConnsPerIP, cfg.ConnRatePerIP = 1, 0 }))
	held, err := tryTLS(ts)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	var silent []net.Conn // refused, and never sending a ClientHello
	for range maxRefusing {
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, nc)
	}
	if got, err := readRefusal(ts); err == nil {
		t.Fatalf("with %d refusals pending, another was answered: %q", maxRefusing, got)
	}
	for _, nc := range silent {
		_ = nc.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := readRefusal(ts)
		if err == nil && got == "ERROR :Closing link: Too many connections from your address\r\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refusals not answered again after the pending ones ended: %q, %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tryTLS returns a connection the server admitted: one whose first reply,
// to CAP LS, is not a refusal's ERROR.
func tryTLS(ts *testServer) (*tls.Conn, error) {
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		return nil, err
	}
	nc := tls.Client(raw, ts.tlsConf)
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := firstReply(nc)
	if err != nil || strings.HasPrefix(line, "ERROR ") {
		_ = raw.Close()
		return nil, fmt.Errorf("refused: %q, %v", line, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, nil
}

// firstReply sends CAP LS and returns the first line the server answers.
func firstReply(nc *tls.Conn) (string, error) {
	if _, err := io.WriteString(nc, "CAP LS 302\r\n"); err != nil {
		return "", err
	}
	var line []byte
	b := make([]byte, 1)
	for !strings.HasSuffix(string(line), "\n") {
		if _, err := nc.Read(b); err != nil {
			return string(line), err
		}
		line = append(line, b[0])
	}
	return string(line), nil
}

// pongs sends n PINGs in one write and waits for all n PONGs.
func pongs(c *testClient, n int) {
	c.T().Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "PING :p%d\r\n", i)
	}
	c.SendRaw(b.String())
	for i := range n {
		c.Expect(fmt.Sprintf(`PONG \S+ :?p%d$`, i))
	}
}

// TestFloodFakeLag: past its burst, a client's lines are slowed, not
// refused; a client sending steadily within its rate is never cut off.
func TestFloodFakeLag(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) { cfg.FloodRate, cfg.FloodBurst = 20, 20 }))
	burst := ts.registerPass("burst")
	start := time.Now()
	pongs(burst, 30) // 10 over the burst: about 10 × 25-50 ms of fake lag
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("30 lines against a burst of 20 at 20/s took %v; want fake lag (>= 200 ms)", d)
	}
	steady := ts.registerPass("steady")
	pongs(steady, 20) // spend the burst
	// Within its rate, a client that used its burst may go on for longer
	// than a backlog may last (burst/rate = 1 s) without being cut off.
	for i := range 40 {
		steady.Send("PING :s%d", i)
		time.Sleep(time.Second / 16)
	}
	steady.Expect(`PONG \S+ :?s39$`)
	if v := refusals(t, ts, "flood"); v != 0 {
		t.Fatalf("flood refusals = %v, want 0", v)
	}
}

// TestFloodDisconnect: a client that keeps sending into its fake lag is
// disconnected with Excess Flood, counted, and its channel goes on.
func TestFloodDisconnect(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) { cfg.FloodRate, cfg.FloodBurst = 20, 20 }))
	watch := ts.registerPass("watch")
	watch.Join("#f")
	flood := ts.registerPass("flood")
	flood.Join("#f")
	done := make(chan struct{})
	go func() {
		defer close(done)
		chunk := strings.Repeat("PRIVMSG #f :flood\r\n", 50)
		for {
			_ = flood.Conn().SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(flood.Conn(), chunk); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	lines := flood.ExpectClosed()
	<-done
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("flood cut off after %v", d)
	}
	if len(lines) == 0 || !strings.HasSuffix(lines[len(lines)-1], "[Excess Flood]") ||
		!strings.HasPrefix(lines[len(lines)-1], "ERROR :Closing link: ") {
		t.Fatalf("last lines %q, want ERROR ... Excess Flood", lines[max(0, len(lines)-2):])
	}
	watch.Expect(`:flood!\S+ QUIT :Excess Flood`)
	if v := refusals(t, ts, "flood"); v != 1 {
		t.Fatalf("flood refusals = %v, want 1", v)
	}
	other := ts.registerPass("other")
	other.Join("#f")
	other.Send("PRIVMSG #f :calm")
	watch.Expect(`:other!\S+ PRIVMSG #f :?calm$`)
}

// TestMaxConnsPerIP: the N+1th connection from one address gets ERROR and
// is closed; once one closes, a new one is let in.
func TestMaxConnsPerIP(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) { cfg.MaxConnsPerIP = 3 }))
	var open []*tls.Conn
	for range 3 {
		nc, err := tryTLS(ts)
		if err != nil {
			t.Fatalf("connection within the limit refused: %v", err)
		}
		open = append(open, nc)
		defer nc.Close()
	}
	if got := refusedGreeting(t, ts); got != "ERROR :Closing link: Too many connections from your address\r\n" {
		t.Fatalf("4th connection got %q", got)
	}
	if v := refusals(t, ts, "conn_limit"); v != 1 {
		t.Fatalf("conn_limit refusals = %v, want 1", v)
	}
	_ = open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := tryTLS(ts)
		if err == nil {
			_ = nc.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection admitted after one closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnRatePerIP: more new connections per second than allowed are
// refused, and admitted again once the rate allows.
func TestConnRatePerIP(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) { cfg.ConnRatePerIP = 2 }))
	for range 2 {
		nc, err := tryTLS(ts)
		if err != nil {
			t.Fatalf("connection within the rate refused: %v", err)
		}
		defer nc.Close()
	}
	if got := refusedGreeting(t, ts); got != "ERROR :Closing link: Connecting too fast, try again shortly\r\n" {
		t.Fatalf("3rd connection got %q", got)
	}
	if v := refusals(t, ts, "conn_rate"); v != 1 {
		t.Fatalf("conn_rate refusals = %v, want 1", v)
	}
	time.Sleep(700 * time.Millisecond)
	nc, err := tryTLS(ts)
	if err != nil {
		t.Fatalf("connection refused after waiting: %v", err)
	}
	_ = nc.Close()
}

// TestRegistrationTimeout: a connection that never logs in is closed with
// ERROR and counted.
func TestRegistrationTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) { cfg.RegistrationTimeout = 300 * time.Millisecond }))
	c := ts.dial()
	lines := c.ExpectClosed()
	if len(lines) != 1 || !strings.HasSuffix(lines[0], "[Registration timed out]") {
		t.Fatalf("got %q, want the registration timeout ERROR", lines)
	}
	if v := refusals(t, ts, "registration_timeout"); v != 1 {
		t.Fatalf("registration_timeout refusals = %v, want 1", v)
	}
}

// wrongPass registers with a wrong PASS and returns how long the 464 took
// after USER completed the attempt.
func wrongPass(t *testing.T, ts *testServer, nick string) time.Duration {
	t.Helper()
	c := ts.dial()
	c.Nick = nick
	c.Send("PASS :guess-%s", nick)
	c.Send("NICK %s", nick)
	start := time.Now()
	c.Send("USER %s 0 * :x", nick)
	c.Expect(` 464 `)
	d := time.Since(start)
	c.ExpectClosed()
	return d
}

// TestAuthFailureThrottle: each failed login from an address is answered
// later than the one before, and after AuthFailLimit failures in the
// window the address is refused outright, so guessing the room password
// gets at most AuthFailLimit tries per AuthFailWindow per address.
func TestAuthFailureThrottle(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) {
		cfg.AuthFailLimit, cfg.AuthFailWindow = 3, time.Minute
	}))
	d1 := wrongPass(t, ts, "g1")
	wrongPass(t, ts, "g2")
	d3 := wrongPass(t, ts, "g3")
	if d1 < 400*time.Millisecond || d3 < d1+700*time.Millisecond || d3 > 10*time.Second {
		t.Fatalf("464 delays: 1st %v, 3rd %v; want >= 400 ms and growing by about 0.5 s per failure", d1, d3)
	}
	if got := refusedGreeting(t, ts); got != "ERROR :Closing link: Too many failed logins, try again later\r\n" {
		t.Fatalf("connection after %d failures got %q", 3, got)
	}
	if v := refusals(t, ts, "auth_throttle"); v != 1 {
		t.Fatalf("auth_throttle refusals = %v, want 1", v)
	}
	if v := counterValue(t, ts, "securechat_auth_failures_total", map[string]string{"mechanism": "pass"}); v != 3 {
		t.Fatalf("pass auth failures = %v, want 3", v)
	}
}

// TestFloodExempt: an exempt address is held to none of the limits: many
// connections at once, 200 lines in a burst, and failed logins without
// delay or refusal.
func TestFloodExempt(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) {
		cfg.FloodExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		cfg.FloodRate, cfg.FloodBurst = 1, 1
		cfg.MaxConnsPerIP, cfg.ConnRatePerIP = 1, 1
		cfg.AuthFailLimit = 1
	}))
	var clients []*testClient
	for i := range 10 {
		clients = append(clients, ts.registerPass(fmt.Sprintf("ex%d", i)))
	}
	start := time.Now()
	pongs(clients[0], 200)
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("200 lines from an exempt address took %v", d)
	}
	for i := range 3 {
		if d := wrongPass(t, ts, fmt.Sprintf("w%d", i)); d > 300*time.Millisecond {
			t.Fatalf("failed login %d from an exempt address was delayed %v", i+1, d)
		}
	}
	clients[9].Sync()
	ts.registerPass("late").Sync()
	for _, reason := range []string{"flood", "conn_limit", "conn_rate", "auth_throttle"} {
		if v := refusals(t, ts, reason); v != 0 {
			t.Fatalf("%s refusals = %v for an exempt address", reason, v)
		}
	}
}
