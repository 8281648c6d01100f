package ircd

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"securechat/config"
	"securechat/ircd/irctest"
	"securechat/metrics"
)

// startWeb starts the server's HTTPS listener on a free loopback port and
// returns the WebSocket URL.
func (ts *testServer) startWeb() string {
	ts.t.Helper()
	ln := loopbackListener(ts.t)
	ts.srv.StartWeb(ln)
	return "wss://" + ln.Addr().String() + WebSocketPath
}

// dialWS connects a WebSocket client offering protos.
func (ts *testServer) dialWS(url string, protos ...string) (*testClient, *websocket.Conn) {
	ts.t.Helper()
	c, ws := irctest.DialWebSocket(ts.t, url, irctest.WebSocketOptions{TLS: ts.tlsConf, Subprotocols: protos})
	return &testClient{c}, ws
}

func TestWebSocketChatsWithTLSClients(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	url := ts.startWeb()
	irc := ts.register("alice", "echo-message")
	irc.JoinAndSync("#room")
	irc.Send("PRIVMSG #room :before you came")
	irc.Expect(`PRIVMSG #room :before you came`)

	web, _ := ts.dialWS(url, "text.ircv3.net")
	web.RegisterPass("bob", testPassword)
	replay := strings.Join(web.JoinAndSync("#room"), "\n")
	if !strings.Contains(replay, "before you came") {
		t.Fatalf("no replay on JOIN over WebSocket:\n%s", replay)
	}
	irc.Expect(`:bob!\S+ JOIN #room`)

	web.Send("PRIVMSG #room :hello from the browser")
	irc.Expect(`:bob!\S+ PRIVMSG #room :hello from the browser`)
	irc.Send("PRIVMSG #room :hello from IRC")
	web.Expect(`:alice!\S+ PRIVMSG #room :hello from IRC`)
	irc.Send("PRIVMSG bob :just you")
	web.Expect(`:alice!\S+ PRIVMSG bob :just you`)
	web.Send("PRIVMSG alice :and you")
	irc.Expect(`:bob!\S+ PRIVMSG alice :and you`)
}

func TestWebSocketSubprotocols(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	url := ts.startWeb()
	cases := []struct {
		name   string
		offers []string
		want   string
	}{
		{"text", []string{"text.ircv3.net"}, "text.ircv3.net"},
		{"binary", []string{"binary.ircv3.net"}, "binary.ircv3.net"},
		{"client's preference wins", []string{"text.ircv3.net", "binary.ircv3.net"}, "text.ircv3.net"},
		{"unknown ones skipped", []string{"chat", "binary.ircv3.net"}, "binary.ircv3.net"},
		{"none is text", nil, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := *ts
			ts.t = t
			c, ws := ts.dialWS(url, tc.offers...)
			if got := ws.Subprotocol(); got != tc.want {
				t.Fatalf("subprotocol %q, want %q", got, tc.want)
			}
			// The client side fails on a message of the wrong type.
			c.RegisterPass("user"+string(rune('a'+i)), testPassword)
			c.Send("PING :tok")
			c.Expect(`PONG \S+ :?tok`)
		})
	}
}

func TestWebSocketWrongPasswordRefused(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c, _ := ts.dialWS(ts.startWeb(), "text.ircv3.net")
	c.Send("PASS :wrong")
	c.Send("NICK eve")
	c.Send("USER eve 0 * :Eve")
	all := strings.Join(c.ExpectClosed(), "\n")
	if !strings.Contains(all, " 464 ") || strings.Contains(all, " 001 ") {
		t.Fatalf("want 464 and no welcome, got:\n%s", all)
	}
}

func TestWebSocketOrigins(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(c *config.Config) { c.WebOrigins = []string{"chat.example.org"} }))
	url := ts.startWeb()
	host := strings.TrimSuffix(strings.TrimPrefix(url, "wss://"), WebSocketPath)
	cases := []struct {
		origin string
		want   int // HTTP status; 101 is the upgrade
	}{
		{"", http.StatusSwitchingProtocols}, // not a browser
		{"https://" + host, http.StatusSwitchingProtocols},
		{"https://chat.example.org", http.StatusSwitchingProtocols},
		{"https://evil.example", http.StatusForbidden},
		{"https://chat.example.org.evil.example", http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.origin, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			opts := irctest.DialOptions(irctest.WebSocketOptions{TLS: ts.tlsConf, Origin: tc.origin})
			ws, resp, err := websocket.Dial(ctx, url, opts)
			if ws != nil {
				defer ws.CloseNow()
			}
			if resp == nil || resp.StatusCode != tc.want {
				t.Fatalf("origin %q: response %v, err %v; want status %d", tc.origin, resp, err, tc.want)
			}
		})
	}
}

func TestWebSocketOnlyAtItsPath(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	url := ts.startWeb()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ts.tlsConf}}
	for _, path := range []string{"/ws/more", "/no-such-file.js", "/static/app.js"} {
		resp, err := client.Get(strings.TrimSuffix(strings.Replace(url, "wss://", "https://", 1), WebSocketPath) + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}

func TestWebSocketLineLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c, ws := ts.dialWS(ts.startWeb(), "binary.ircv3.net")
	c.RegisterPass("bob", testPassword)
	c.Send("PRIVMSG bob :%s", strings.Repeat("x", 600))
	c.Expect(` 417 `)
	c.Send("PING :still here")
	c.Expect(`PONG \S+ :?still here`)

	// Invalid UTF-8 in a binary message is refused like on TCP.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageBinary, []byte("PRIVMSG bob :\xffbad")); err != nil {
		t.Fatal(err)
	}
	c.Expect(`FAIL \S+ INVALID_UTF8`)

	// A message far past any line is refused by the WebSocket layer.
	if err := ws.Write(ctx, websocket.MessageBinary, []byte(strings.Repeat("x", 1<<20))); err != nil {
		t.Fatal(err)
	}
	c.ExpectClosed()
}

func TestWebSocketClientsAreCounted(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	url := ts.startWeb()
	ws := map[string]string{"listener": metrics.ListenerWebSocket}
	tls := map[string]string{"listener": metrics.ListenerTLS}
	a, _ := ts.dialWS(url, "text.ircv3.net")
	a.RegisterPass("a", testPassword)
	b, _ := ts.dialWS(url)
	b.RegisterPass("b", testPassword)
	ts.register("c")
	if got := counterValue(t, ts, "securechat_clients_connected", ws); got != 2 {
		t.Fatalf("websocket clients %v, want 2", got)
	}
	if got := counterValue(t, ts, "securechat_clients_connected", tls); got != 1 {
		t.Fatalf("tls clients %v, want 1", got)
	}
	a.Send("QUIT :bye")
	a.ExpectClosed()
	waitUntil(t, func() bool { return counterValue(t, ts, "securechat_clients_connected", ws) == 1 })
}

// TestWebSocketShutdown checks that Shutdown says goodbye to WebSocket
// clients too and closes the HTTPS listener.
func TestWebSocketShutdown(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	url := ts.startWeb()
	c, _ := ts.dialWS(url, "text.ircv3.net")
	c.RegisterPass("bob", testPassword)
	ts.shutdown()
	c.Expect(`^ERROR `)
	c.ExpectClosed()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := websocket.Dial(ctx, url, irctest.DialOptions(irctest.WebSocketOptions{TLS: ts.tlsConf}))
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial after shutdown: %v, want refused", err)
	}
}

// waitUntil polls cond until it holds, failing the test after five seconds.
func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}

// TestWebSocketSlowReaderIsDisconnected checks that the send queue's
// budget holds for a WebSocket client that stops reading: it is cut off,
// and the writer stuck on it is freed.
func TestWebSocketSlowReaderIsDisconnected(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(slowReaderConfig))
	opts := irctest.DialOptions(irctest.WebSocketOptions{TLS: ts.tlsConf, Subprotocols: []string{"text.ircv3.net"}})
	opts.HTTPClient.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = nc.(*net.TCPConn).SetReadBuffer(4096) // back up quickly
		}
		return nc, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, ts.startWeb(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	// Read the welcome, then stop reading altogether.
	slow := &testClient{irctest.NewClient(t, irctest.WebSocketConn(ws))}
	slow.RegisterPass("slow", testPassword)
	expectSlowReaderCutOff(t, ts, slow)
}

// TestWebListenerLeavesIRCALPNAlone: the HTTPS listener offers h2 while
// the IRC listener, sharing the server's TLS settings, still takes a
// client offering an ALPN protocol of its own ("irc").
func TestWebListenerLeavesIRCALPNAlone(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	url := ts.startWeb()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: ts.tlsConf.Clone(), ForceAttemptHTTP2: true}}
	resp, err := hc.Get("https" + strings.TrimPrefix(strings.TrimSuffix(url, WebSocketPath), "wss") + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("web listener spoke %s, want HTTP/2", resp.Proto)
	}
	conf := ts.tlsConf.Clone()
	conf.NextProtos = []string{"irc"}
	c := irctest.DialTLS(t, ts.addr, conf)
	c.RegisterSASL("alpn", testPassword)
}
