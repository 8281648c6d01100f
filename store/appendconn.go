package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// appendConn is AppendBatch's own connection to Redis. At full load
// go-redis's per-command machinery (a Cmd object and boxed arguments per
// command, reply decoding into them) cost more CPU than the round trip
// itself, so AppendBatch writes its pipeline as raw RESP into one reused
// buffer and reads the replies directly. Everything else uses go-redis.
//
// mu guards every field: one pipeline is in flight at a time (the Queue
// has a single writer anyway), and the buffers are reused from batch to
// batch. AppendBatch holds mu while it builds cmds and reads replies.
type appendConn struct {
	opts connOptions

	mu      sync.Mutex
	conn    net.Conn // nil until first used, and after any failure
	rd      respReader
	cmds    []byte  // the pipeline being built
	replies []error // each command's error reply in the last pipeline
	closed  bool
}

const (
	// readBufSize holds the replies of a full 256-record batch.
	readBufSize = 16 << 10
	// maxKeptCmds bounds the pipeline buffer kept between batches, so one
	// batch of large records does not pin its memory.
	maxKeptCmds = 1 << 20
)

// aLongTimeAgo is a deadline in the past, to abort I/O in progress.
var aLongTimeAgo = time.Unix(1, 0)

// connOptions are what appendConn takes of the go-redis client's options,
// read once, after go-redis filled in its defaults: everything OpenRedis
// accepts through the URL that matters to one connection.
type connOptions struct {
	dial                      func(ctx context.Context, network, addr string) (net.Conn, error)
	network, addr             string // the dialer applies TLS and dial timeout
	username, password        string
	db                        int
	clientName                string
	readTimeout, writeTimeout time.Duration
}

func newAppendConn(o *redis.Options) *appendConn {
	return &appendConn{opts: connOptions{
		dial: o.Dialer, network: o.Network, addr: o.Addr,
		username: o.Username, password: o.Password, db: o.DB, clientName: o.ClientName,
		readTimeout: o.ReadTimeout, writeTimeout: o.WriteTimeout,
	}}
}

// pipeline sends the n commands in c.cmds and returns each one's error
// reply, nil where it succeeded. An error means the pipeline failed as a
// whole (dial, I/O, timeout, protocol): the caller must then count none of
// it as written, though Redis may have run some of it. The caller holds
// c.mu.
func (c *appendConn) pipeline(ctx context.Context, n int) ([]error, error) {
	defer c.trim()
	if c.closed {
		return nil, redis.ErrClosed
	}
	reused := c.conn != nil
	err := c.roundTrip(ctx, n)
	if err != nil && reused && droppedConn(ctx, err) {
		// The server closed the connection while it sat idle (restart,
		// idle timeout, CLIENT KILL); go-redis retries such failures too.
		// Had it closed it mid-pipeline instead, the retry may store some
		// records twice, as the at-least-once contract allows.
		err = c.roundTrip(ctx, n)
	}
	if err != nil {
		return nil, err
	}
	return c.replies, nil
}

// roundTrip runs the pipeline once, dialing first if needed. Any failure
// closes the connection, since where the stream stands is then unknown;
// the next attempt redials.
func (c *appendConn) roundTrip(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			return err
		}
	}
	if err := c.exchange(ctx, c.cmds, n); err != nil {
		c.drop()
		if ctxErr := ctxEnded(ctx); ctxErr != nil {
			return ctxErr // the I/O error would only say "timeout"
		}
		return err
	}
	return nil
}

// ctxEnded returns why ctx has ended, if it has. A deadline that has
// passed counts even before ctx's own timer fires, since the connection's
// deadline, copied from it, may fire first.
func ctxEnded(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// exchange writes cmds and reads n replies into c.replies, within the
// client's timeouts and ctx's deadline. Ending ctx aborts the I/O at once,
// as Queue.Close expects of a write in progress. The abort may also land
// just after the replies were read, or even on the next exchange, so an
// exchange during which ctx ended always fails and the connection goes.
func (c *appendConn) exchange(ctx context.Context, cmds []byte, n int) (err error) {
	conn := c.conn
	if err := c.setDeadlines(ctx); err != nil {
		return err
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
		defer func() {
			if !stop() && err == nil {
				err = context.Cause(ctx)
			}
		}()
	}
	if _, err := conn.Write(cmds); err != nil {
		return err
	}
	c.replies, err = c.rd.readErrors(c.replies[:0], n)
	return err
}

func (c *appendConn) setDeadlines(ctx context.Context) error {
	if err := c.conn.SetWriteDeadline(ioDeadline(ctx, c.opts.writeTimeout)); err != nil {
		return err
	}
	return c.conn.SetReadDeadline(ioDeadline(ctx, c.opts.readTimeout))
}

// ioDeadline is timeout from now, or ctx's deadline if sooner, or none
// (zero) if neither is set. go-redis's timeouts of zero or less mean none.
func ioDeadline(ctx context.Context, timeout time.Duration) time.Time {
	var d time.Time
	if timeout > 0 {
		d = time.Now().Add(timeout)
	}
	if cd, ok := ctx.Deadline(); ok && (d.IsZero() || cd.Before(d)) {
		d = cd
	}
	return d
}

// dial connects with the go-redis client's dialer, which applies the
// URL's network, address, TLS config and dial timeout, then sets the
// connection up.
func (c *appendConn) dial(ctx context.Context) error {
	conn, err := c.opts.dial(ctx, c.opts.network, c.opts.addr)
	if err != nil {
		return err
	}
	c.conn = conn
	if c.rd.br == nil {
		c.rd.br = bufio.NewReaderSize(conn, readBufSize)
	} else {
		c.rd.br.Reset(conn)
	}
	if err := c.handshake(ctx); err != nil {
		c.drop()
		return err
	}
	return nil
}

// handshake authenticates, selects the database and names the connection
// as go-redis does its own, in one round trip. It sends no HELLO, so the
// replies stay RESP2 whichever protocol the URL asks go-redis for.
// OpenRedis sets no credentials provider, so the options' username and
// password are the credentials.
func (c *appendConn) handshake(ctx context.Context) error {
	o := c.opts
	var b []byte
	n := 0
	switch {
	case o.username != "":
		b, n = appendCommand(b, "auth", o.username, o.password), n+1
	case o.password != "":
		b, n = appendCommand(b, "auth", o.password), n+1
	}
	if o.db > 0 {
		b, n = appendCommand(b, "select", strconv.Itoa(o.db)), n+1
	}
	if o.clientName != "" {
		b, n = appendCommand(b, "client", "setname", o.clientName), n+1
	}
	if n == 0 {
		return nil
	}
	if err := c.exchange(ctx, b, n); err != nil {
		return err
	}
	for _, err := range c.replies {
		if err != nil {
			return fmt.Errorf("redis connection setup: %w", err)
		}
	}
	return nil
}

// droppedConn reports whether err shows that the server had closed the
// connection, unlike a timeout, cancellation or protocol error, which an
// immediate retry would not cure.
func droppedConn(ctx context.Context, err error) bool {
	return ctxEnded(ctx) == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
}

// drop closes the connection; the next pipeline redials.
func (c *appendConn) drop() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

func (c *appendConn) trim() {
	if cap(c.cmds) > maxKeptCmds {
		c.cmds = nil
	}
}

// close drops the connection for good, after any pipeline in flight.
func (c *appendConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.drop()
}
