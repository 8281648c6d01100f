package ircd

import (
	"crypto/tls"
	"io"
	"net"
	"syscall"
)

// tlsReader reads a TLS client so that, idle, its reader goroutine waits
// for the socket in a shallow stack instead of deep inside crypto/tls's
// record reader. Parked there the goroutine holds about 1 KiB of frames
// instead of 2, so the collector shrinks its stack to 4 KiB instead of
// leaving it at 8: a tenth of what an idle TLS connection costs.
//
// crypto/tls reads the socket through a pollConn. Each Read runs
// crypto/tls inside the socket's raw read: the pollConn reads without
// blocking and reports "would block" when the socket is empty, and only
// then does the goroutine wait, in the raw read, for the socket to become
// readable, before it runs crypto/tls again. What crypto/tls already holds
// (the rest of a decrypted record, further records read with the last one)
// is returned without touching the socket, and no read costs an extra
// system call.
type tlsReader struct {
	tc   *tls.Conn
	pc   *pollConn
	poll func(fd uintptr) bool // r.tryRead, bound once

	b   []byte // the caller's buffer, during Read
	n   int
	err error
}

// newConnReader returns what a client's reader goroutine reads lines
// from: nc itself, or a tlsReader when nc is TLS over a pollConn. Read
// deadlines are still set on nc.
func newConnReader(nc net.Conn) io.Reader {
	tc, isTLS := nc.(*tls.Conn)
	if !isTLS {
		return nc
	}
	pc, ok := tc.NetConn().(*pollConn)
	if !ok {
		return nc
	}
	r := &tlsReader{tc: tc, pc: pc}
	r.poll = r.tryRead
	return r
}

func (r *tlsReader) Read(b []byte) (int, error) {
	r.b = b
	// The raw read honours the read deadline: a timeout, or disconnect
	// moving the deadline to now, ends the wait like a read's.
	err := r.pc.rc.Read(r.poll)
	r.b = nil
	if err != nil {
		return 0, err
	}
	return r.n, r.err
}

// tryRead runs one crypto/tls read without waiting for the socket; false
// asks the raw read to wait until the socket is readable and call again.
func (r *tlsReader) tryRead(fd uintptr) bool {
	r.pc.fd, r.pc.polling = int(fd), true
	r.n, r.err = r.tc.Read(r.b)
	r.pc.polling = false
	if r.n > 0 && r.err == errWouldBlock {
		// crypto/tls looks past the data for a close_notify alert and
		// found the rest of the record not yet there: not an error.
		r.err = nil
	}
	return r.n > 0 || r.err != errWouldBlock
}

// pollConn is the TCP connection under a TLS client. While its tlsReader
// polls, reads go straight to the non-blocking socket; otherwise (the
// handshake) it is the connection itself.
type pollConn struct {
	net.Conn
	rc      syscall.RawConn
	fd      int  // the socket, valid while polling
	polling bool // set by the tlsReader around each crypto/tls read
}

// newPollConn wraps nc for a TLS server, if it is a socket that can be
// polled.
func newPollConn(nc net.Conn) net.Conn {
	sc, ok := nc.(syscall.Conn)
	if !ok || !canPoll {
		return nc
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nc
	}
	return &pollConn{Conn: nc, rc: rc}
}

func (p *pollConn) Read(b []byte) (int, error) {
	if !p.polling {
		return p.Conn.Read(b)
	}
	return readNow(p.fd, b)
}

// errWouldBlock is a temporary error, so crypto/tls keeps a partial
// record and reads on at the next call instead of failing the connection.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "read would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }
