package irctest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// WebSocketOptions say how DialWebSocket connects.
type WebSocketOptions struct {
	TLS          *tls.Config
	Subprotocols []string // offered in this order; none: offer nothing
	Origin       string   // sent as the Origin header if set
}

// DialWebSocket connects to url (wss://host:port/ws) and wraps the
// WebSocket in a Client that reads and writes lines as over TCP. The
// WebSocket is returned too, for tests that send raw messages. A failed
// handshake fails the test; use websocket.Dial to test refusals.
func DialWebSocket(t testing.TB, url string, opts WebSocketOptions) (*Client, *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, DialOptions(opts))
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return NewClient(t, WebSocketConn(ws)), ws
}

// WebSocketConn wraps a dialed WebSocket as the net.Conn of a Client, for
// tests that dial it themselves.
func WebSocketConn(ws *websocket.Conn) net.Conn { return newWSClientConn(ws) }

// DialOptions turns opts into the library's options.
func DialOptions(opts WebSocketOptions) *websocket.DialOptions {
	d := &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: opts.TLS}},
		Subprotocols: opts.Subprotocols,
	}
	if opts.Origin != "" {
		d.HTTPHeader = http.Header{"Origin": {opts.Origin}}
	}
	return d
}

// wsClientConn is the client's side of IRC over WebSocket. It is written
// apart from the server's adapter, in another shape, so that tests check
// the server's framing rather than share its mistakes: every message
// received must be one line, without CR or LF, of the negotiated type
// (and valid UTF-8 when text); it becomes a CR LF-terminated line for the
// Client. Each line written is sent as one message.
type wsClientConn struct {
	ws   *websocket.Conn
	typ  websocket.MessageType
	msgs chan []byte // from the pump; closed after err is set
	err  error
	buf  []byte // the rest of the message being read

	mu           sync.Mutex // guards the deadlines
	readDeadline time.Time
	wrDeadline   time.Time
}

func newWSClientConn(ws *websocket.Conn) *wsClientConn {
	c := &wsClientConn{ws: ws, typ: websocket.MessageText, msgs: make(chan []byte, 64)}
	if ws.Subprotocol() == "binary.ircv3.net" {
		c.typ = websocket.MessageBinary
	}
	go c.pump()
	return c
}

func (c *wsClientConn) pump() {
	defer close(c.msgs)
	for {
		typ, msg, err := c.ws.Read(context.Background())
		switch {
		case err != nil:
			c.err = io.EOF // the server hung up, with or without a close frame
			return
		case typ != c.typ:
			c.err = fmt.Errorf("got a %v message on a %v connection", typ, c.typ)
		case bytes.ContainsAny(msg, "\r\n"):
			c.err = fmt.Errorf("message %q holds a line ending", msg)
		case typ == websocket.MessageText && !utf8.Valid(msg):
			c.err = fmt.Errorf("text message %q is not UTF-8", msg)
		}
		if c.err != nil {
			return
		}
		c.msgs <- append(msg, '\r', '\n')
	}
}

// Read returns what is left of the current message, or waits for the next
// one until the read deadline.
func (c *wsClientConn) Read(p []byte) (int, error) {
	if len(c.buf) == 0 {
		c.mu.Lock()
		d := c.readDeadline
		c.mu.Unlock()
		var expired <-chan time.Time
		if !d.IsZero() {
			t := time.NewTimer(time.Until(d))
			defer t.Stop()
			expired = t.C
		}
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return 0, c.err
			}
			c.buf = m
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		}
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// Write sends each CR LF-terminated line of p as one message.
func (c *wsClientConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	d := c.wrDeadline
	c.mu.Unlock()
	ctx := context.Background()
	if !d.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	for _, line := range bytes.SplitAfter(p, []byte("\r\n")) {
		if line = bytes.TrimRight(line, "\r\n"); len(line) == 0 {
			continue
		}
		if err := c.ws.Write(ctx, c.typ, line); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *wsClientConn) Close() error         { return c.ws.CloseNow() }
func (c *wsClientConn) LocalAddr() net.Addr  { return &net.TCPAddr{} }
func (c *wsClientConn) RemoteAddr() net.Addr { return &net.TCPAddr{} }

func (c *wsClientConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *wsClientConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return nil
}

func (c *wsClientConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wrDeadline = t
	c.mu.Unlock()
	return nil
}
