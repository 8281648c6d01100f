// Package irctest is a raw IRC client for tests that talk to a real
// server, transcript style: Send a line, Expect a reply. It is imported
// only by tests, as net/http/httptest is: by the ircd package's tests,
// which run a Server in-process, and by cmd/securechatd's end-to-end
// tests, which run the daemon as a child process.
//
// A Client is used by one goroutine at a time, like the testing.TB it
// reports to: every method that fails calls Fatalf on it.
package irctest

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/irc.v4"
)

// Default timeouts of a new Client.
const (
	DefaultExpectTimeout = 5 * time.Second
	DefaultCloseTimeout  = 10 * time.Second
	DefaultWriteTimeout  = 5 * time.Second
)

// Client speaks raw IRC lines over a net.Conn, plain or TLS.
type Client struct {
	// Nick names the client in failure messages; the Register helpers set it.
	Nick string
	// ExpectTimeout bounds Expect, ExpectAfter, Join and Sync.
	ExpectTimeout time.Duration
	// CloseTimeout is how long ExpectClosed waits for the server to hang up.
	CloseTimeout time.Duration
	// WriteTimeout bounds each Send and SendRaw.
	WriteTimeout time.Duration

	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// NewClient wraps conn, which is closed when t's test ends. Failures are
// reported to t.
func NewClient(t testing.TB, conn net.Conn) *Client {
	t.Cleanup(func() { _ = conn.Close() })
	return &Client{
		ExpectTimeout: DefaultExpectTimeout,
		CloseTimeout:  DefaultCloseTimeout,
		WriteTimeout:  DefaultWriteTimeout,
		t:             t,
		conn:          conn,
		r:             bufio.NewReader(conn),
	}
}

// DialTLS connects to addr over TLS with conf, giving up after five
// seconds, and wraps the connection with NewClient.
func DialTLS(t testing.TB, addr string, conf *tls.Config) *Client {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return NewClient(t, conn)
}

// T returns the testing.TB that failures are reported to.
func (c *Client) T() testing.TB { return c.t }

// WithT returns a copy of c that reports to t, sharing c's connection and
// buffered reader: for using a client set up by a parent test in a subtest.
// Only one of the two may be read from at a time.
func (c *Client) WithT(t testing.TB) *Client {
	cp := *c
	cp.t = t
	return &cp
}

// Conn returns the underlying connection, for tests that write or close
// it themselves.
func (c *Client) Conn() net.Conn { return c.conn }

// Reader returns the buffered reader over Conn; it may hold lines already
// received, so a test that takes over reading must read from it.
func (c *Client) Reader() *bufio.Reader { return c.r }

// Send formats a line, appends CRLF and writes it.
func (c *Client) Send(format string, args ...any) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.WriteTimeout))
	if _, err := fmt.Fprintf(c.conn, format+"\r\n", args...); err != nil {
		c.t.Fatalf("%s: send %q: %v", c.Nick, format, err)
	}
}

// SendRaw writes b as it is, without adding CRLF.
func (c *Client) SendRaw(b string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.WriteTimeout))
	if _, err := io.WriteString(c.conn, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.Nick, err)
	}
}

// ReadLine returns the next line without its line ending, waiting at most
// timeout. On error it returns what it read of a partial line and the
// error.
func (c *Client) ReadLine(timeout time.Duration) (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	line, err := c.r.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// Expect reads lines until one matches pattern and returns it parsed. It
// fails the test if none does within ExpectTimeout.
func (c *Client) Expect(pattern string) *irc.Message {
	c.t.Helper()
	m, _ := c.ExpectAfter(pattern)
	return m
}

// ExpectAfter is Expect that also returns the lines skipped before the
// match, for assertions about what came before.
func (c *Client) ExpectAfter(pattern string) (*irc.Message, []string) {
	c.t.Helper()
	line, skipped := c.expectLine(pattern)
	m, err := irc.ParseMessage(line)
	if err != nil {
		c.t.Fatalf("%s: unparsable line %q: %v", c.Nick, line, err)
	}
	return m, skipped
}

// expectLine reads lines until one matches pattern and returns it raw,
// with the lines skipped before it.
func (c *Client) expectLine(pattern string) (string, []string) {
	c.t.Helper()
	re := regexp.MustCompile(pattern)
	var skipped []string
	deadline := time.Now().Add(c.ExpectTimeout)
	for time.Now().Before(deadline) {
		line, err := c.ReadLine(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("%s: waiting for %q: %v (skipped %q)", c.Nick, pattern, err, skipped)
		}
		if re.MatchString(line) {
			return line, skipped
		}
		skipped = append(skipped, line)
	}
	c.t.Fatalf("%s: timed out waiting for %q (skipped %q)", c.Nick, pattern, skipped)
	return "", nil
}

// ExpectClosed reads until the server closes the connection and returns
// every line it sent, a last partial line included. It fails the test if
// the connection is still open after CloseTimeout.
func (c *Client) ExpectClosed() []string {
	c.t.Helper()
	var lines []string
	deadline := time.Now().Add(c.CloseTimeout)
	for time.Now().Before(deadline) {
		line, err := c.ReadLine(time.Until(deadline))
		if line != "" {
			lines = append(lines, line)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return lines
		}
	}
	c.t.Fatalf("%s: connection not closed; got %d lines, last %q", c.Nick, len(lines), lines[max(0, len(lines)-2):])
	return nil
}

// Quiet fails the test if a line matching pattern arrives within d. It
// returns early if the connection ends.
func (c *Client) Quiet(pattern string, d time.Duration) {
	c.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		line, err := c.ReadLine(time.Until(deadline))
		if err != nil {
			return
		}
		if re.MatchString(line) {
			c.t.Fatalf("%s: unexpected %q", c.Nick, line)
		}
	}
}

// Sync waits until the server has handled every line sent so far: it
// sends a PING and waits for its PONG, which the server answers in order.
// It returns the lines that came before the PONG.
func (c *Client) Sync() []string {
	c.t.Helper()
	tok := fmt.Sprintf("sync%d", time.Now().UnixNano())
	c.Send("PING %s", tok)
	_, lines := c.expectLine(`^(@\S+ )?:\S+ PONG \S+ :?` + tok + `$`)
	return lines
}

// Join joins channel and waits for the end of NAMES (366). It returns the
// lines up to and including the 366: the JOIN echo, topic and names.
// History the server replays after NAMES is left unread; see JoinAndSync.
func (c *Client) Join(channel string) []string {
	c.t.Helper()
	c.Send("JOIN %s", channel)
	end, lines := c.expectLine(` 366 \S+ ` + regexp.QuoteMeta(channel) + ` `)
	return append(lines, end)
}

// JoinAndSync is Join followed by Sync: it returns everything the server
// sent for the join, including replayed history, which follows NAMES
// with no end marker for a client without the batch capability.
func (c *Client) JoinAndSync(channel string) []string {
	c.t.Helper()
	lines := c.Join(channel)
	return append(lines, c.Sync()...)
}

// RegisterSASL registers as nick, logging in with SASL PLAIN and
// password and also requesting caps, and waits for the end of the MOTD
// (376, or 422 without one). It sets Nick and returns the welcome burst:
// the lines from after the SASL success up to and including the end of
// the MOTD.
func (c *Client) RegisterSASL(nick, password string, caps ...string) []string {
	c.t.Helper()
	c.Nick = nick
	c.Send("CAP LS 302")
	c.Send("NICK %s", nick)
	c.Send("USER %s 0 * :Real %s", nick, nick)
	c.Expect(`CAP \* LS`)
	c.Send("CAP REQ :%s", strings.Join(append([]string{"sasl"}, caps...), " "))
	c.Expect(`CAP \S+ ACK`)
	c.Send("AUTHENTICATE PLAIN")
	c.Expect(`AUTHENTICATE \+`)
	c.Send("AUTHENTICATE %s", SASLPlain(nick, password))
	c.Expect(` 903 `)
	c.Send("CAP END")
	return c.welcome()
}

// RegisterPass registers as nick, logging in with PASS password, and
// waits for the end of the MOTD. With caps, it negotiates them first
// (CAP LS 302, CAP REQ) and ends negotiation after USER. It sets Nick and
// returns the welcome burst, as RegisterSASL does.
func (c *Client) RegisterPass(nick, password string, caps ...string) []string {
	c.t.Helper()
	c.startPass(nick, password, len(caps) > 0, caps)
	if len(caps) > 0 {
		c.Send("CAP END")
	}
	return c.welcome()
}

// startPass sends PASS, NICK and USER; with negotiate, CAP LS 302 first,
// which holds registration open until CAP END, and a CAP REQ for caps.
func (c *Client) startPass(nick, password string, negotiate bool, caps []string) {
	c.t.Helper()
	c.Nick = nick
	if negotiate {
		c.Send("CAP LS 302")
	}
	c.Send("PASS :%s", password)
	c.Send("NICK %s", nick)
	c.Send("USER %s 0 * :Real %s", nick, nick)
	if len(caps) > 0 {
		c.Send("CAP REQ :%s", strings.Join(caps, " "))
		c.Expect(`CAP \S+ ACK`)
	}
}

// welcome waits for 001 and then the end of the MOTD, and returns the
// lines read, those two included.
func (c *Client) welcome() []string {
	c.t.Helper()
	first, before := c.expectLine(` 001 `)
	last, burst := c.expectLine(` (376|422) `)
	lines := append(append(before, first), burst...)
	return append(lines, last)
}

// SASLPlain returns the AUTHENTICATE payload for a SASL PLAIN login as
// user with password.
func SASLPlain(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
}
