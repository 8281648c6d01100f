package ircd

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"time"
	"unicode/utf8"

	"gopkg.in/irc.v4"

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
		c.quit(reason)
		c.sendq.close()
	}()
	lr := newLineReader(c.nc)
	pinged := false
	for {
		if q := c.quitRequested(); q != "" {
			reason = q
			return
		}
		_ = c.nc.SetReadDeadline(c.readDeadline(pinged))
		line, err := lr.next()
		switch {
		case errors.Is(err, errLineTooLong):
			c.numeric(errInputTooLong, "Input line was too long")
			continue
		case isTimeout(err):
			if r, stop := c.onIdle(pinged); stop {
				reason = r
				return
			}
			pinged = true
			continue
		case err != nil:
			reason = readErrorReason(err)
			if q := c.quitRequested(); q != "" {
				reason = q
			}
			return
		}
		pinged = false
		if len(line) == 0 {
			continue
		}
		if r, stop := c.handleLine(line); stop {
			reason = r
			return
		}
	}
}

// readDeadline bounds the wait for the next line: the registration timeout
// before welcome, then the ping interval and ping timeout.
func (c *Client) readDeadline(pinged bool) time.Time {
	cfg := c.srv.config()
	switch {
	case !c.isRegistered():
		return c.signon.Add(cfg.RegistrationTimeout)
	case pinged:
		return time.Now().Add(cfg.PingTimeout)
	default:
		return time.Now().Add(cfg.PingInterval)
	}
}

func (c *Client) onIdle(pinged bool) (reason string, stop bool) {
	if !c.isRegistered() {
		c.srv.metrics.Registrations.WithLabelValues("timeout").Inc()
		c.srv.metrics.Refused.WithLabelValues("registration_timeout").Inc()
		c.sendError("Registration timed out")
		return "Registration timed out", true
	}
	if pinged {
		c.srv.metrics.Refused.WithLabelValues("ping_timeout").Inc()
		return "Ping timeout", true
	}
	c.sendLine([]byte("PING :" + c.srv.name()))
	return "", false
}

// handleLine parses and dispatches one line after flood control.
func (c *Client) handleLine(line []byte) (reason string, stop bool) {
	if !c.flood.take() {
		c.srv.metrics.Refused.WithLabelValues("flood").Inc()
		c.sendError("Excess Flood")
		return "Excess Flood", true
	}
	m, err := irc.ParseMessage(string(line))
	if err != nil {
		return "", false
	}
	if !utf8.Valid(line) {
		c.fail(m.Command, "INVALID_UTF8", "Message rejected, your IRC software MUST use UTF-8")
		return "", false
	}
	if bytes.IndexByte(line, 0) >= 0 {
		c.fail(m.Command, "INVALID_PARAMS", "Message rejected, it contains a NUL byte")
		return "", false
	}
	c.srv.metrics.MessagesIn.WithLabelValues(metrics.CommandLabel(m.Command)).Inc()
	c.srv.dispatch(c, m)
	if q := c.quitRequested(); q != "" {
		return q, true
	}
	return "", false
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

func quitReasonFor(err error) string {
	if errors.Is(err, errSendQ) {
		return "SendQ exceeded"
	}
	return "Write error"
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
// it queues ERROR, closes the queue so the writer flushes and hangs up.
func (c *Client) disconnect(text string) {
	c.sendError(text)
	c.requestQuit(text)
	c.sendq.close()
	_ = c.nc.SetReadDeadline(time.Now())
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
			s.removeClient(c, reason)
		}
		c.log.Debug("client gone", "reason", reason)
	})
}
