package load

import (
	"bufio"
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWSLineConn checks the adapter against a WebSocket echo server: lines
// written in one Write go out as one message each, come back as CR LF
// lines, and an expired read deadline ends a blocked Read.
func TestWSLineConn(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wsSubprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for {
			typ, msg, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			if typ != websocket.MessageText || strings.ContainsAny(string(msg), "\r\n") {
				msg = []byte("BAD " + string(msg))
			}
			if ws.Write(context.Background(), typ, msg) != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c, err := dialWS(context.Background(), strings.TrimPrefix(srv.URL, "https://"), true, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("NICK a\r\nUSER u 0 * :r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for _, want := range []string{"NICK a\r\n", "USER u 0 * :r\r\n"} {
		if got, err := br.ReadString('\n'); got != want || err != nil {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	done := make(chan error, 1)
	go func() { _, err := br.ReadString('\n'); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read past the deadline succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read deadline did not end the read")
	}
}
