package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsPair starts a real HTTPS server whose handler accepts one WebSocket,
// dials it offering protos, and returns the server's net.Conn and the
// client's WebSocket.
func wsPair(t *testing.T, protos ...string) (net.Conn, *websocket.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, err := AcceptWebSocket(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		accepted <- nc
	}))
	srv.Config.ConnContext = WebSocketConnContext
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(srv.URL, "https"), &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}},
		Subprotocols: protos,
	})
	if err != nil {
		t.Fatal(err)
	}
	nc := <-accepted
	// The client goes first: the server's close handshake would wait
	// for a peer that no longer reads.
	t.Cleanup(func() { _ = nc.Close() })
	t.Cleanup(func() { _ = ws.CloseNow() })
	return nc, ws
}

func TestWebSocketWritesOneMessagePerLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		protos []string
		typ    websocket.MessageType
		want   []string
	}{
		{"text replaces invalid UTF-8", []string{SubprotocolText}, websocket.MessageText, []string{"A", "B\uFFFD", "C"}},
		{"binary keeps bytes", []string{SubprotocolBinary}, websocket.MessageBinary, []string{"A", "B\xff", "C"}},
		{"no subprotocol is text", nil, websocket.MessageText, []string{"A", "B\uFFFD", "C"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nc, ws := wsPair(t, tc.protos...)
			if _, err := nc.Write([]byte("A\r\nB\xff\r\nC\r\n")); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, want := range tc.want {
				typ, msg, err := ws.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if typ != tc.typ || string(msg) != want {
					t.Fatalf("got %v %q, want %v %q", typ, msg, tc.typ, want)
				}
			}
		})
	}
}

// TestWebSocketReadDeadlineOnlyWakes checks that a read deadline, the
// server's idle timer, wakes the reader without ending the connection.
func TestWebSocketReadDeadlineOnlyWakes(t *testing.T) {
	t.Parallel()
	nc, ws := wsPair(t, SubprotocolText)
	lr := NewLineReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := lr.Next(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v, want a timeout", err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range []string{"PING :one", "PING :two"} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"PING :one", "PING :two"} {
		line, err := lr.Next()
		if err != nil || string(line) != want {
			t.Fatalf("got %q, %v; want %q", line, err, want)
		}
	}
}

// TestWebSocketAbortIsImmediate checks that Abort drops a connection
// whose peer does not read, without waiting for a close handshake.
func TestWebSocketAbortIsImmediate(t *testing.T) {
	t.Parallel()
	nc, _ := wsPair(t, SubprotocolBinary)
	c := New(nc, Config{SendQ: 1 << 20})
	start := time.Now()
	c.Abort()
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after Abort succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Abort took %v", d)
	}
}
