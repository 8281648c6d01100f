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
// each message read becomes one line, each line written one message. The
// deadlines become contexts; when one passes, the library closes the
// WebSocket, which is what an expired deadline means to the generator.
type wsLineConn struct {
	ws  *websocket.Conn
	buf []byte // the rest of the message being read

	mu                sync.Mutex
	readCtx, writeCtx context.Context
	readStop          context.CancelFunc
	writeStop         context.CancelFunc
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
	bg := context.Background()
	return &wsLineConn{ws: ws, readCtx: bg, writeCtx: bg, readStop: func() {}, writeStop: func() {}}, nil
}

// Read returns what is left of the current message, or reads the next one
// and returns it as a CR LF-terminated line.
func (c *wsLineConn) Read(p []byte) (int, error) {
	if len(c.buf) == 0 {
		c.mu.Lock()
		ctx := c.readCtx
		c.mu.Unlock()
		_, msg, err := c.ws.Read(ctx)
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
	c.mu.Lock()
	ctx := c.writeCtx
	c.mu.Unlock()
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
	c.readStop()
	c.writeStop()
	c.mu.Unlock()
	return c.ws.CloseNow()
}

func (c *wsLineConn) LocalAddr() net.Addr  { return &net.TCPAddr{} }
func (c *wsLineConn) RemoteAddr() net.Addr { return &net.TCPAddr{} }

func (c *wsLineConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline replaces the read context. The generator changes a
// deadline only between reads, so the old context can be released.
func (c *wsLineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readStop()
	c.readCtx, c.readStop = deadlineCtx(t)
	return nil
}

func (c *wsLineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeStop()
	c.writeCtx, c.writeStop = deadlineCtx(t)
	return nil
}

func deadlineCtx(t time.Time) (context.Context, context.CancelFunc) {
	if t.IsZero() {
		return context.Background(), func() {}
	}
	return context.WithDeadline(context.Background(), t)
}
