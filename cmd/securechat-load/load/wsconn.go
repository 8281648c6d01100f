package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// wsSubprotocol is the IRCv3 WebSocket subprotocol the generator asks for:
// one IRC line per text message, without CR LF.
const wsSubprotocol = "text.ircv3.net"

// wsPath is where securechatd's web listener accepts WebSockets.
const wsPath = "/ws"

// wsLineConn presents an IRC-over-WebSocket connection as the byte stream
// of CR LF-terminated lines the rest of the generator reads and writes:
// each message read becomes one line, each line written one message. A
// deadline is a timer that closes the WebSocket when it passes, which is
// what an expired deadline means to the generator; reads and writes pass
// the library a context without a deadline, because one with a deadline
// costs a context.AfterFunc registration per message (8 % of the
// generator's CPU with 500 users).
type wsLineConn struct {
	ws  *websocket.Conn
	buf []byte // the rest of the message being read

	mu                 sync.Mutex
	readTimer, wrTimer *time.Timer
}

// dialWS opens a WebSocket to wss://addr/ws (ws:// without TLS) offering
// text.ircv3.net, with tc for the TLS handshake.
func dialWS(ctx context.Context, addr string, useTLS bool, tc *tls.Config) (*wsLineConn, error) {
	scheme := "wss"
	if !useTLS {
		scheme = "ws"
	}
	// A transport per dial: the connection is hijacked, never pooled, and
	// tc may carry this user's own session cache.
	ws, resp, err := websocket.Dial(ctx, scheme+"://"+addr+wsPath, &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: tc}},
		Subprotocols: []string{wsSubprotocol},
	})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	if ws.Subprotocol() != wsSubprotocol {
		ws.CloseNow()
		return nil, fmt.Errorf("%w: websocket subprotocol %q, want %s", errServerError, ws.Subprotocol(), wsSubprotocol)
	}
	// IRC lines are at most 8191 bytes of tags and 512 of message.
	ws.SetReadLimit(16 << 10)
	return &wsLineConn{ws: ws}, nil
}

// Read returns what is left of the current message, or reads the next one
// and returns it as a CR LF-terminated line.
func (c *wsLineConn) Read(p []byte) (int, error) {
	if len(c.buf) == 0 {
		_, msg, err := c.ws.Read(context.Background())
		if err != nil {
			return 0, err
		}
		c.buf = append(msg, '\r', '\n')
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// Write sends each CR LF-terminated line of p as one text message.
func (c *wsLineConn) Write(p []byte) (int, error) {
	ctx := context.Background()
	rest := p
	for len(rest) > 0 {
		line, after, _ := bytes.Cut(rest, []byte{'\n'})
		rest = after
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		if err := c.ws.Write(ctx, websocket.MessageText, line); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *wsLineConn) Close() error {
	c.mu.Lock()
	stopTimer(c.readTimer)
	stopTimer(c.wrTimer)
	c.mu.Unlock()
	return c.ws.CloseNow()
}

func (c *wsLineConn) LocalAddr() net.Addr  { return &net.TCPAddr{} }
func (c *wsLineConn) RemoteAddr() net.Addr { return &net.TCPAddr{} }

func (c *wsLineConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *wsLineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readTimer = c.expireAt(c.readTimer, t)
	return nil
}

func (c *wsLineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wrTimer = c.expireAt(c.wrTimer, t)
	return nil
}

// expireAt replaces old with a timer closing the WebSocket at t (none for
// the zero time).
func (c *wsLineConn) expireAt(old *time.Timer, t time.Time) *time.Timer {
	stopTimer(old)
	if t.IsZero() {
		return nil
	}
	return time.AfterFunc(time.Until(t), func() { c.ws.CloseNow() })
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}
