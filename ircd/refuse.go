package ircd

import (
	"crypto/tls"
	"io"
	"net"
	"time"

	"securechat/metrics"
)

// refuseTimeout bounds the whole exchange with a refused TLS connection:
// its handshake, the ERROR line and the wait for the client to hang up.
const refuseTimeout = 5 * time.Second

// maxRefusing bounds the refused TLS connections being answered at once.
// Answering costs a TLS handshake, and a connection flood (what conn_rate
// refuses) must not buy unbounded handshakes: past this many, a refused
// connection is closed without a word.
const maxRefusing = 16

// refuse tells a connection the address guard turned away why, with a
// standard ERROR line, and closes it. On the TLS listener the line goes
// inside TLS, after the handshake: a TLS client reads a plaintext line as
// a broken handshake ("wrong version number") and never shows it. That
// runs on a goroutine of its own, bounded by refuseTimeout and
// maxRefusing, so the accept loop never waits for a handshake; Shutdown
// does not wait for it either, as it ends by itself within refuseTimeout.
func (s *Server) refuse(nc net.Conn, kind, reason string) {
	s.metrics.Refused.WithLabelValues(reason).Inc()
	line := []byte("ERROR :Closing link: " + refusalText[reason] + "\r\n")
	if kind != metrics.ListenerTLS { // plaintext, or a WebSocket whose TLS is done
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write(line)
		_ = nc.Close()
		return
	}
	select {
	case s.refusing <- struct{}{}:
	default:
		_ = nc.Close()
		return
	}
	go func() {
		defer func() { <-s.refusing }()
		refuseTLS(tls.Server(nc, s.tls), line)
	}()
}

// refuseTLS completes the handshake, sends line and closes the
// connection. It reads until the client hangs up (or the deadline), as
// closing a socket with unread input would reset the connection and could
// discard the line before the client reads it.
func refuseTLS(tc *tls.Conn, line []byte) {
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(refuseTimeout))
	if tc.Handshake() != nil {
		return
	}
	if _, err := tc.Write(line); err != nil {
		return
	}
	_ = tc.CloseWrite() // close_notify: the client sees a clean end after the line
	_, _ = io.Copy(io.Discard, io.LimitReader(tc, 64<<10))
}
