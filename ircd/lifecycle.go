package ircd

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/irc.v4"

	"securechat/ircd/transport"
	"securechat/ircd/wire"
	"securechat/metrics"
)

// serve is the client's reader goroutine: it reads lines, applies flood
// control and dispatches them until the connection ends, then runs the
// quit path exactly once.
func (c *Client) serve() {
	reason := "Connection closed"
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("handler panic", "panic", r)
			reason = "Internal error"
		}
		c.flushPending()
		c.quit(reason)
		c.conn.Close()
	}()
	var st readState
	for {
		if q := c.quitRequested(); q != "" {
			reason = q
			return
		}
		line, waited, err := c.nextLine(&st)
		switch {
		case errors.Is(err, transport.ErrLineTooLong):
			c.numeric(errInputTooLong, "Input line was too long")
			continue
		case isTimeout(err):
			if r, stop := c.onIdle(st.pinged); stop {
				reason = r
				return
			}
			st.pinged = true
			continue
		case err != nil:
			reason = readErrorReason(err) // quit prefers a requested reason
			return
		}
		st.pinged = false
		if len(line) == 0 {
			continue
		}
		if r, stop := c.handleLine(line, waited); stop {
			reason = r
			return
		}
	}
}

// readState is what the serve loop carries from one read to the next.
type readState struct {
	pinged   bool      // a PING went out since the last line
	deadline time.Time // the read deadline last set
	buffered bool      // another complete line is buffered: the next needs no read
}

// nextLine returns the client's next line and how long it waited for it.
// A line already buffered costs no clock read and no deadline update: a
// client that streams sends dozens of lines per read.
func (c *Client) nextLine(st *readState) (line []byte, waited time.Duration, err error) {
	if st.buffered {
		line, err = c.conn.ReadLine()
	} else {
		c.flushPending() // before a read that may block
		start := time.Now()
		if d := c.readDeadline(start, st.pinged); moveDeadline(st.deadline, d, c.srv.config().PingInterval/8) {
			_ = c.conn.SetReadDeadline(d)
			st.deadline = d
		}
		line, err = c.conn.ReadLine()
		waited = time.Since(start)
	}
	st.buffered = c.conn.Buffered()
	return line, waited, err
}

// readDeadline bounds the wait for the next line: the registration timeout
// before welcome, then the ping interval and ping timeout, from now.
func (c *Client) readDeadline(now time.Time, pinged bool) time.Time {
	cfg := c.srv.config()
	switch {
	case !c.isRegistered():
		return c.signon.Add(cfg.RegistrationTimeout)
	case pinged:
		return now.Add(cfg.PingTimeout)
	default:
		return now.Add(cfg.PingInterval)
	}
}

// moveDeadline reports whether the read deadline must move from cur to
// want. Moving it costs a timer update, which a busy client would pay on
// every line; so a deadline that is already set and only slack early
// stays, and the ping comes at most slack sooner than configured.
func moveDeadline(cur, want time.Time, slack time.Duration) bool {
	return cur.IsZero() || want.Before(cur) || want.Sub(cur) > slack
}

func (c *Client) onIdle(pinged bool) (reason string, stop bool) {
	if !c.isRegistered() {
		c.srv.metrics.Registrations.WithLabelValues(metrics.ResultTimeout).Inc()
		c.srv.metrics.Refused.WithLabelValues(metrics.ReasonRegistrationTimeout).Inc()
		c.sendError("Registration timed out")
		return "Registration timed out", true
	}
	if pinged {
		c.srv.metrics.Refused.WithLabelValues(metrics.ReasonPingTimeout).Inc()
		return "Ping timeout", true
	}
	c.sendLine([]byte("PING :" + c.srv.name()))
	return "", false
}

// handleLine parses and dispatches one line after flood control. waited
// is how long the reader blocked for it, which tells a backlog apart from
// a client that paused. A line of an open multiline batch pays only if
// the batch does not take it in (see batchLine).
func (c *Client) handleLine(line []byte, waited time.Duration) (reason string, stop bool) {
	m, err := wire.Parse(line)
	var b *multilineBatch
	var held int
	if err == nil {
		b, held = c.batchLine(m)
	}
	if b == nil && !c.flood.take(waited, c.flushPending) {
		return c.excessFlood()
	}
	c.process(line, m, err)
	if b != nil && !c.tookIn(b, held, m) && !c.flood.take(waited, c.flushPending) {
		return c.excessFlood()
	}
	return "", false
}

func (c *Client) excessFlood() (reason string, stop bool) {
	c.srv.metrics.Refused.WithLabelValues(metrics.ReasonFlood).Inc()
	c.sendError("Excess Flood")
	return "Excess Flood", true
}

// process checks a line that passed flood control and dispatches it; m
// and err are what wire.Parse made of it.
func (c *Client) process(line []byte, m *irc.Message, err error) {
	if clientTagData(line) > maxClientTagData {
		c.numeric(errInputTooLong, "Input line was too long")
		return
	}
	if code, text := lineProblem(line); code != "" {
		if err != nil {
			c.fail("*", code, text)
			return
		}
		// The refusal is the labeled command's response.
		c.withLabel(m, func() { c.fail(failCommand(m.Command), code, text) })
		return
	}
	if err != nil {
		return
	}
	c.srv.metrics.In(m.Command).Inc()
	c.srv.dispatch(c, m)
}

// maxClientTagData is the tag data (between '@' and the space) a client
// may send, per the message-tags spec: the other half of the 8191 bytes is
// kept for the tags the server adds, so a relayed line stays in bounds.
const maxClientTagData = 4094

func clientTagData(line []byte) int {
	if len(line) == 0 || line[0] != '@' {
		return 0
	}
	if sp := bytes.IndexByte(line, ' '); sp >= 0 {
		return sp - 1
	}
	return len(line) - 1
}

// lineProblem returns the FAIL code and text for a line that must not be
// dispatched: invalid UTF-8, a NUL, or a CR, which some clients take as a
// line end, so relaying it would let a sender forge lines at recipients.
func lineProblem(line []byte) (code, text string) {
	switch {
	case !utf8.Valid(line):
		return "INVALID_UTF8", "Message rejected, your IRC software MUST use UTF-8"
	case bytes.IndexByte(line, 0) >= 0:
		return "INVALID_PARAMS", "Message rejected, it contains a NUL byte"
	case bytes.IndexByte(line, '\r') >= 0:
		return "INVALID_PARAMS", "Message rejected, it contains a CR"
	}
	return "", ""
}

// failCommand is the command named in a FAIL about a rejected line, or "*"
// when echoing it would send the bad bytes back.
func failCommand(cmd string) string {
	if !utf8.ValidString(cmd) || strings.ContainsAny(cmd, "\x00\r") {
		return "*"
	}
	return cmd
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

func readErrorReason(err error) string {
	if errors.Is(err, io.EOF) {
		return "Connection closed"
	}
	return "Read error"
}

// sendError queues an ERROR line, the last thing a closing client sees.
func (c *Client) sendError(text string) {
	c.sendLine([]byte("ERROR :Closing link: (" + c.userOrStar() + "@" + c.hostOnly() + ") [" + text + "]"))
}

func (c *Client) userOrStar() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.user == "" {
		return "*"
	}
	return c.user
}

func (c *Client) hostOnly() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.host
}

// requestQuit asks the reader loop to end after the current handler.
func (c *Client) requestQuit(reason string) { c.quitReason.Store(&reason) }

func (c *Client) quitRequested() string {
	if p := c.quitReason.Load(); p != nil {
		return *p
	}
	return ""
}

// disconnect closes the client from another goroutine (KILL, shutdown):
// it queues ERROR and closes the connection, which writes what is queued
// and hangs up, and wakes the reader to run the quit path.
func (c *Client) disconnect(text string) {
	if c.remote != nil {
		c.srv.link.kill(c, text)
		return
	}
	c.sendError(text)
	c.requestQuit(text)
	c.conn.Close()
	_ = c.conn.SetReadDeadline(time.Now())
}

// quit removes the client from every shared structure and tells the
// channels it shared, once, whoever calls it first. A reason given with
// requestQuit (QUIT, KILL, SendQ) wins over the I/O error that followed it.
func (c *Client) quit(reason string) {
	if q := c.quitRequested(); q != "" {
		reason = q
	}
	c.quitOnce.Do(func() {
		s := c.srv
		s.trackConn(c, false)
		s.guard.release(c.ip)
		s.metrics.ClientsConnected.WithLabelValues(c.listener).Dec()
		if c.isRegistered() {
			s.rememberChannels(c)
			s.removeClient(c, reason)
		}
		// A QUIT reason is the user's own text: log only that they quit.
		if strings.HasPrefix(reason, "Quit:") {
			reason = "Quit"
		}
		c.log.Debug("client gone", "reason", reason)
	})
}
