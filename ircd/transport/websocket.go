package transport

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// The subprotocols of the IRCv3 WebSocket spec. Both carry one IRC line
// per message, without CR LF; text messages must be valid UTF-8.
const (
	SubprotocolBinary = "binary.ircv3.net"
	SubprotocolText   = "text.ircv3.net"
)

// maxWebSocketMessage bounds one incoming message. It is well above an IRC
// line's limits, so a line that is merely too long reaches the line reader
// and gets the same 417 as on TCP; only a message far past any line makes
// the library close the connection (status 1009).
const maxWebSocketMessage = 64 << 10

// rawConnKey is the request context key under which WebSocketConnContext
// keeps the accepted socket.
type rawConnKey struct{}

// WebSocketConnContext is an http.Server ConnContext that remembers each
// connection's socket, so that a WebSocket accepted on it can be aborted
// at once, like a TCP client, rather than through a close handshake.
func WebSocketConnContext(ctx context.Context, nc net.Conn) context.Context {
	return context.WithValue(ctx, rawConnKey{}, nc)
}

// AcceptWebSocket upgrades r to a WebSocket carrying IRC and returns it as
// a net.Conn for New: reads yield each message followed by "\n", and a
// write sends each CR LF-terminated line as one message. origins are the
// Origin host patterns allowed besides the request's own host; a refused
// Origin gets 403. On error the HTTP response has been written.
//
// The subprotocol is the first of the client's offers that is supported,
// as the spec asks; a client that offers none is answered as text.
func AcceptWebSocket(w http.ResponseWriter, r *http.Request, origins []string) (net.Conn, error) {
	proto := chooseSubprotocol(r.Header.Values("Sec-WebSocket-Protocol"))
	opts := &websocket.AcceptOptions{
		OriginPatterns: origins,
		// Compressing secrets next to attacker-chosen text leaks them
		// (CRIME); IRC lines are short anyway.
		CompressionMode: websocket.CompressionDisabled,
	}
	if proto != "" {
		opts.Subprotocols = []string{proto}
	}
	raw, _ := r.Context().Value(rawConnKey{}).(net.Conn)
	ws, err := websocket.Accept(w, r, opts)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(maxWebSocketMessage)
	return newWSConn(ws, proto, raw, requestAddr(r)), nil
}

// chooseSubprotocol picks the first supported subprotocol among the
// client's offers, in its order of preference; "" if there is none.
func chooseSubprotocol(headers []string) string {
	for _, h := range headers {
		for _, p := range strings.Split(h, ",") {
			switch p = strings.TrimSpace(p); {
			case strings.EqualFold(p, SubprotocolBinary):
				return SubprotocolBinary
			case strings.EqualFold(p, SubprotocolText):
				return SubprotocolText
			}
		}
	}
	return ""
}

// requestAddr is the client's address as the HTTP server saw it.
func requestAddr(r *http.Request) net.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return &net.TCPAddr{IP: net.IPv6unspecified}
}

// wsConn is a WebSocket seen as a byte stream of IRC lines. A pump
// goroutine reads messages and writes them, each with "\n", into a pipe
// whose other end is the embedded net.Conn: the line reader reads that,
// and gets real read deadlines from it. The library's own read timeouts
// would close the connection, while the server's idle timeout must only
// wake the reader to send a PING. Writes go straight to the WebSocket,
// from the one writer goroutine transport runs at a time.
type wsConn struct {
	net.Conn          // the pipe's reading end
	pipe     net.Conn // the pump's end
	ws       *websocket.Conn
	raw      net.Conn // the socket under ws, if known; closed by Abort
	typ      websocket.MessageType
	remote   net.Addr

	writeDeadline atomic.Pointer[time.Time]
	closeOnce     sync.Once
}

var _ net.Conn = (*wsConn)(nil)

func newWSConn(ws *websocket.Conn, proto string, raw net.Conn, remote net.Addr) *wsConn {
	r, w := net.Pipe()
	c := &wsConn{Conn: r, pipe: w, ws: ws, raw: raw, typ: websocket.MessageText, remote: remote}
	if proto == SubprotocolBinary {
		c.typ = websocket.MessageBinary
	}
	go c.pump()
	return c
}

// pump copies messages from the WebSocket into the pipe until either
// ends. Messages of either type are taken, as older clients that offer no
// subprotocol send binary ones too.
func (c *wsConn) pump() {
	defer c.pipe.Close()
	var buf []byte
	for {
		_, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return
		}
		if buf, err = readMessage(buf[:0], r); err != nil {
			return
		}
		if _, err := c.pipe.Write(append(buf, '\n')); err != nil {
			return
		}
		if cap(buf) > ReadBufSize {
			buf = nil // an oversized message's buffer is not kept
		}
	}
}

// readMessage appends the rest of r to buf.
func readMessage(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

var crlf = []byte("\r\n")

// Write sends each line of p as one message, without its CR LF. transport
// writes whole lines; a trailing piece without CR LF is sent as a line too.
func (c *wsConn) Write(p []byte) (int, error) {
	ctx := context.Background()
	if d := c.writeDeadline.Load(); d != nil && !d.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, *d)
		defer cancel()
	}
	n := 0
	for len(p) > 0 {
		line, rest, _ := bytes.Cut(p, crlf)
		if len(line) > 0 {
			if err := c.ws.Write(ctx, c.typ, c.encode(line)); err != nil {
				return n, err
			}
		}
		n += len(p) - len(rest)
		p = rest
	}
	return n, nil
}

// encode makes line fit the message type: a browser drops a connection
// that sends it invalid UTF-8 in a text message, so invalid bytes become
// U+FFFD there.
func (c *wsConn) encode(line []byte) []byte {
	if c.typ == websocket.MessageText && !utf8.Valid(line) {
		return bytes.ToValidUTF8(line, []byte("\uFFFD"))
	}
	return line
}

// SetWriteDeadline bounds later writes; a write past it closes the
// WebSocket, as a stuck peer is cut off anyway.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.Store(&t)
	return nil
}

// SetDeadline sets both deadlines.
func (c *wsConn) SetDeadline(t time.Time) error {
	_ = c.SetWriteDeadline(t)
	return c.SetReadDeadline(t)
}

// Close ends the WebSocket with a close handshake, which the library
// bounds to a few seconds, and ends the reader.
func (c *wsConn) Close() error {
	c.closeOnce.Do(func() {
		_ = c.Conn.Close()
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
	})
	return nil
}

// Abort drops the connection at once, without a close handshake: it must
// free a writer stuck on a peer that stopped reading.
func (c *wsConn) Abort() {
	_ = c.Conn.Close()
	if c.raw != nil {
		_ = c.raw.Close()
		return
	}
	_ = c.ws.CloseNow()
}

// RemoteAddr is the client's address, as the HTTP server saw it.
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

// LocalAddr is the pipe's, as the WebSocket library hides the socket's.
func (c *wsConn) LocalAddr() net.Addr { return c.Conn.LocalAddr() }
