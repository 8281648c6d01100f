// Package transport moves a client's bytes: it reads lines from a socket
// (TCP, TLS or a WebSocket, see AcceptWebSocket) and writes what others
// queue for it. It knows nothing of
// IRC commands, handlers or history.
//
// Goroutines: one reader per connection, the caller's, which alone calls
// Handshake, ReadLine and Buffered; any goroutine may Push, Flush, Close
// and SetReadDeadline. A writer goroutine exists only while the
// connection has bytes to write: Flush starts it, and it exits once the
// queue is drained, so an idle connection holds no writer stack and no
// write buffer.
package transport

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// writeTimeout bounds one write to a peer that stopped reading.
const writeTimeout = 30 * time.Second

// Conn is one client connection: its socket, line reader and send queue.
// mu guards the queue fields; it is a leaf lock, taken last and never held
// while calling out.
type Conn struct {
	nc  net.Conn // the TLS connection, or the TCP one for plaintext
	raw net.Conn // the TCP connection under nc
	lr  *LineReader
	// deadline is the write deadline last set. Only the running writer
	// uses it; writers hand over through mu.
	deadline time.Time

	// onClosed is called once, by the writer, after the socket is closed;
	// err is nil after Close and a drained queue.
	onClosed func(err error)

	mu      sync.Mutex
	buf     []byte
	limit   int
	writing bool     // a writer goroutine runs
	owner   *Pending // the reader that will flush this queue, if any
	closed  bool     // Close was called or the budget broke: no more lines
	over    bool     // the budget broke
	ended   bool     // the writer finished for good
}

// Config is what New needs besides the socket.
type Config struct {
	TLS      *tls.Config     // nil: plaintext
	SendQ    int             // the send queue's byte budget
	OnClosed func(err error) // see Conn.onClosed; may be nil
}

// New wraps raw, a freshly accepted socket, in TLS when cfg.TLS is set.
// Nothing is read or written until Handshake, ReadLine or Flush.
func New(raw net.Conn, cfg Config) *Conn {
	nc := raw
	if cfg.TLS != nil && raw != nil {
		nc = tls.Server(raw, cfg.TLS)
	}
	c := &Conn{nc: nc, raw: raw, limit: cfg.SendQ, onClosed: cfg.OnClosed}
	c.lr = NewLineReader(nc)
	return c
}

// Handshake completes a TLS handshake, if any, by deadline. It runs on a
// short-lived goroutine: the key exchange and certificate code grow a
// stack to tens of KiB, which then dies with the helper instead of
// staying, for hours, with the reader of an idle client. A failed
// handshake surfaces as ReadLine's first error. Reader goroutine only.
func (c *Conn) Handshake(deadline time.Time) {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return
	}
	_ = tc.SetDeadline(deadline)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tc.Handshake()
	}()
	<-done
	_ = tc.SetWriteDeadline(time.Time{})
}

// ReadLine returns the next line without its CR LF, valid until the next
// call; ErrLineTooLong means one was discarded. Reader goroutine only.
func (c *Conn) ReadLine() ([]byte, error) { return c.lr.Next() }

// Buffered reports whether ReadLine can return a line without reading the
// socket. Reader goroutine only.
func (c *Conn) Buffered() bool { return c.lr.Buffered() }

// SetReadDeadline bounds the reader's wait; a deadline in the past wakes
// it at once with a timeout. Any goroutine.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// IsTLS reports whether the connection runs over TLS.
func (c *Conn) IsTLS() bool {
	_, ok := c.nc.(*tls.Conn)
	return ok
}

// Abort closes the socket at once, dropping whatever is queued; the
// reader and any writer return with errors. Any goroutine.
func (c *Conn) Abort() {
	if a, ok := c.raw.(interface{ Abort() }); ok {
		a.Abort() // a WebSocket: its socket is underneath
		return
	}
	if c.raw != nil {
		_ = c.raw.Close()
	}
}
