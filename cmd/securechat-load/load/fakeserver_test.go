package load

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer is a tiny in-process IRC server speaking just enough of
// securechatd's protocol (CAP, SASL PLAIN, PASS, JOIN with a replay batch,
// PRIVMSG fan-out, CHATHISTORY) to test the load generator end to end
// without the daemon. drop, when set, decides which deliveries to lose.
type fakeServer struct {
	ln       net.Listener
	password string
	drop     func(to string, text string) bool

	mu       sync.Mutex
	channels map[string]map[*fakeClient]bool
	history  map[string][]string
	joins    atomic.Int64 // JOIN commands received
}

type fakeClient struct {
	mu   sync.Mutex
	conn net.Conn
	nick string
}

func (c *fakeClient) send(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.conn, format+"\r\n", a...)
}

func newFakeServer(t *testing.T, password string) *fakeServer {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, password: password, channels: map[string]map[*fakeClient]bool{}, history: map[string][]string{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(&fakeClient{conn: nc})
		}
	}()
	return s
}

func (s *fakeServer) serve(c *fakeClient) {
	defer c.conn.Close()
	defer s.part(c)
	sc := bufio.NewScanner(c.conn)
	for sc.Scan() {
		m := parseMessage([]byte(strings.TrimRight(sc.Text(), "\r")))
		if !s.handle(c, &m) {
			return
		}
	}
}

func (s *fakeServer) handle(c *fakeClient, m *message) bool {
	switch m.command {
	case "CAP":
		s.handleCap(c, m)
	case "AUTHENTICATE":
		if m.param(0) == "PLAIN" {
			c.send("AUTHENTICATE +")
			break
		}
		b, _ := base64.StdEncoding.DecodeString(m.param(0))
		if parts := strings.Split(string(b), "\x00"); len(parts) == 3 && parts[2] == s.password {
			c.send(":srv 903 * :SASL authentication successful")
		} else {
			c.send(":srv 904 * :SASL authentication failed")
		}
	case "NICK":
		c.nick = m.param(0)
	case "USER":
		// No 376/422, like securechatd without a MOTD file.
		c.send(":srv 001 %s :Welcome", c.nick)
	case "JOIN":
		s.join(c, m.param(0))
	case "PRIVMSG":
		s.privmsg(c, m.param(0), m.param(1))
	case "CHATHISTORY":
		c.send("BATCH +h1 chathistory %s", m.param(1))
		c.send("BATCH -h1")
	case "PING":
		c.send(":srv PONG srv :%s", m.param(0))
	case "QUIT":
		return false
	}
	return true
}

func (s *fakeServer) handleCap(c *fakeClient, m *message) {
	switch m.param(0) {
	case "LS":
		c.send(":srv CAP * LS * :sasl server-time message-tags")
		c.send(":srv CAP * LS :batch echo-message draft/chathistory")
	case "REQ":
		c.send(":srv CAP * ACK :%s", m.param(1))
	}
}

func (s *fakeServer) join(c *fakeClient, ch string) {
	s.joins.Add(1)
	s.mu.Lock()
	if s.channels[ch] == nil {
		s.channels[ch] = map[*fakeClient]bool{}
	}
	s.channels[ch][c] = true
	hist := append([]string(nil), s.history[ch]...)
	s.mu.Unlock()
	c.send(":%s!u@h JOIN %s", c.nick, ch)
	c.send(":srv 353 %s = %s :%s", c.nick, ch, c.nick)
	c.send(":srv 366 %s %s :End of /NAMES list.", c.nick, ch)
	// Like securechatd, the replay follows NAMES.
	c.send("BATCH +r1 chathistory %s", ch)
	for _, line := range hist {
		c.send("@batch=r1;time=2024-01-01T00:00:00.000Z %s", line)
	}
	c.send("BATCH -r1")
}

func (s *fakeServer) privmsg(c *fakeClient, ch, text string) {
	line := fmt.Sprintf(":%s!u@h PRIVMSG %s :%s", c.nick, ch, text)
	s.mu.Lock()
	s.history[ch] = append(s.history[ch], line)
	if n := len(s.history[ch]); n > 20 {
		s.history[ch] = s.history[ch][n-20:]
	}
	var to []*fakeClient
	for m := range s.channels[ch] {
		if m != c && (s.drop == nil || !s.drop(m.nick, text)) {
			to = append(to, m)
		}
	}
	s.mu.Unlock()
	for _, m := range to {
		m.send("@time=2024-01-01T00:00:00.000Z;msgid=x %s", line)
	}
}

func (s *fakeServer) part(c *fakeClient) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, members := range s.channels {
		delete(members, c)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// fakeConfig returns a short run against s.
func fakeConfig(t *testing.T, s *fakeServer, args ...string) Config {
	t.Helper()
	base := []string{"--addr", s.ln.Addr().String(), "--password", "pw", "--warmup", "200ms", "--duration", "1s", "--drain", "2s"}
	cfg, err := ParseArgs(append(base, args...), func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRunAgainstFakeServer(t *testing.T) {
	clean := func(t *testing.T, _ *fakeServer, res *Result) { checkClean(t, res) }
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, s *fakeServer, res *Result)
	}{
		{"steady sasl", []string{"--scenario", "steady", "--users", "20", "--channels", "4", "--senders", "4", "--rate", "200"}, clean},
		{"steady pass", []string{"--scenario", "steady", "--auth", "pass", "--users", "10", "--channels", "2", "--senders", "2", "--rate", "100"}, clean},
		{"maxrate", []string{"--scenario", "maxrate", "--users", "10", "--senders", "2"}, clean},
		{"connect storm", []string{"--scenario", "connect-storm", "--users", "30"}, func(t *testing.T, s *fakeServer, res *Result) {
			if res.Connect.OK != 30 || res.Messages != nil || res.Connect.RegisterMS.Count != 30 || res.Connect.JoinMS != nil {
				t.Errorf("connect = %+v", res.Connect)
			}
			if n := s.joins.Load(); n != 0 {
				t.Errorf("the storm sent %d JOINs, want none: it measures registration only", n)
			}
		}},
		// 22 churners at 20 reconnects/s: each comes back every 1.1 s.
		{"churn", []string{"--scenario", "churn", "--users", "24", "--channels", "2", "--senders", "2", "--rate", "100",
			"--churn-fraction", "1", "--churn-rate", "20", "--churn-offline", "100ms", "--baseline", "1s", "--duration", "2s"},
			func(t *testing.T, s *fakeServer, res *Result) { checkChurn(t, res, 20, 20) }},
		{"history", []string{"--scenario", "history", "--users", "8", "--channels", "2", "--senders", "2", "--rate", "50", "--preload", "20"}, func(t *testing.T, _ *fakeServer, res *Result) {
			checkClean(t, res)
			if res.History == nil || res.History.Requests == 0 || res.History.Failed != 0 {
				t.Errorf("history = %+v", res.History)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newFakeServer(t, "pw")
			res, err := Run(context.Background(), fakeConfig(t, s, tc.args...), nil, false)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			WriteSummary(&b, res)
			t.Log("\n" + b.String())
			tc.check(t, s, res)
		})
	}
}

// checkChurn checks a churn run: no loss, about rate reconnects a second
// in the measured window (counts, with room for a slow machine), each
// replaying replay lines, and live latency measured both without and with
// churn.
func checkChurn(t *testing.T, res *Result, rate float64, replay float64) {
	t.Helper()
	checkClean(t, res)
	ch := res.Churn
	if ch == nil {
		t.Fatal("no churn section")
	}
	// The schedule puts rate*duration reconnects in the window; a slow
	// reconnect may complete after it ends, none can come early.
	want := rate * res.MeasuredSeconds
	if got := float64(ch.MeasuredRejoins); got < want/2 || got > want+2 {
		t.Errorf("%d rejoins in %.2fs, want about %.0f", ch.MeasuredRejoins, res.MeasuredSeconds, want)
	}
	if ch.Rejoins < ch.MeasuredRejoins || ch.ReplayLines.Count != int(ch.Rejoins) || ch.ReplayMS.Count != int(ch.Rejoins) {
		t.Errorf("rejoins %d (%d measured), replay samples %d/%d", ch.Rejoins, ch.MeasuredRejoins, ch.ReplayLines.Count, ch.ReplayMS.Count)
	}
	if ch.ReplayLines.Mean != replay || ch.ReplayLines.Max != replay {
		t.Errorf("replay lines %+v, want every rejoin to replay %v", ch.ReplayLines, replay)
	}
	if ch.LiveBaselineMS == nil || ch.LiveBaselineMS.Count == 0 || ch.LiveChurnMS.Count == 0 || ch.LiveP99DeltaMS == nil {
		t.Fatalf("live latency baseline %+v, with churn %+v", ch.LiveBaselineMS, ch.LiveChurnMS)
	}
	if ch.LiveChurnMS != *res.LatencyMS || *ch.LiveP99DeltaMS != ch.LiveChurnMS.P99-ch.LiveBaselineMS.P99 {
		t.Errorf("live with churn %+v, latency_ms %+v, delta %v", ch.LiveChurnMS, *res.LatencyMS, *ch.LiveP99DeltaMS)
	}
}

func checkClean(t *testing.T, res *Result) {
	t.Helper()
	m := res.Messages
	if m == nil || m.Received == 0 || res.DeliveryRate == 0 {
		t.Fatalf("no deliveries: %+v", res)
	}
	if m.Lost != 0 || m.Duplicates != 0 || m.Reordered != 0 || m.Foreign != 0 || res.Errors.Total != 0 {
		t.Errorf("messages %+v errors %+v", *m, res.Errors)
	}
	if res.LatencyMS == nil || res.LatencyMS.Count == 0 {
		t.Errorf("no latency samples")
	}
}

func TestRunCountsServerLoss(t *testing.T) {
	s := newFakeServer(t, "pw")
	// Lose every delivery of seq 5 of every sender to one receiver.
	s.drop = func(to, text string) bool { return strings.HasSuffix(to, "-3") && strings.Fields(text)[3] == "5" }
	res, err := Run(context.Background(), fakeConfig(t, s, "--users", "6", "--channels", "1", "--senders", "2", "--rate", "100"), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages.Lost != 2 {
		t.Errorf("lost = %d, want 2 (%+v)", res.Messages.Lost, *res.Messages)
	}
}

func TestRunWrongPassword(t *testing.T) {
	s := newFakeServer(t, "right")
	res, err := Run(context.Background(), fakeConfig(t, s, "--scenario", "connect-storm", "--users", "3"), nil, false)
	if err == nil || res.Connect.Failed != 3 || res.Errors.ByKind["register"] != 3 {
		t.Errorf("err %v, connect %+v, errors %+v", err, res.Connect, res.Errors)
	}
}
