package load

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// errServerError is wrapped by errors the server reported itself (ERROR,
// a failing numeric), as opposed to network errors.
var errServerError = errors.New("server refused")

// errHistoryTimeout is a CHATHISTORY request whose batch never ended.
var errHistoryTimeout = errors.New("chathistory: no complete batch within 5s")

// batchResult describes one finished chathistory batch (JOIN replay or a
// CHATHISTORY response).
type batchResult struct {
	lines int
	err   error
}

// conn is one simulated user's connection. Reading (and with it all
// accounting of received lines) happens on one goroutine at a time: the
// handshake methods run on the user goroutine, then readLoop takes over.
// Writes may come from any goroutine and are serialised by wmu.
type conn struct {
	nc     net.Conn
	br     *bufio.Reader
	clock  *stampedReader // when br's latest fill arrived
	nick   string
	marker []byte    // " :LT <runid> ": a live load message
	rx     *receiver // nil: received messages are not accounted

	wmu sync.Mutex

	caps       map[string]bool
	batchID    string // open chathistory batch, "" when none
	batches    int    // open batches of any type: only then can a line carry a batch tag
	batchLines int
	batchDone  chan batchResult // told (without blocking) when a batch ends

	altNicks int // --reconnect: 433 may be answered with this many alternate nicks
	histMax  int // ISUPPORT CHATHISTORY=, the most one request returns
	// onHistory, if set, sees each load message of a chathistory batch;
	// batchFirst and batchLast are then the msgids of the batch's oldest
	// and newest ones.
	onHistory  func(sender int, seq int64)
	batchFirst []byte
	batchLast  []byte
}

// stampedReader notes when each read from the socket returned. Every line
// in one read arrived at that instant, so one clock read serves them all:
// at max rate a read carries dozens of lines, and a clock read per line
// cost the generator a tenth of its CPU.
type stampedReader struct {
	r  io.Reader
	at int64 // UnixNano of the latest read's return
}

func (s *stampedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.at = time.Now().UnixNano()
	return n, err
}

// dialConn opens a TCP (and TLS) connection to addr, or with transport
// "ws" a WebSocket to the web listener at addr.
func dialConn(ctx context.Context, cfg *Config, addr, transport string, tc *tls.Config, nick, runID string) (*conn, error) {
	var nc net.Conn
	var err error
	if transport == "ws" {
		if nc, err = dialWS(ctx, addr, cfg.TLS, tc); err != nil {
			return nil, fmt.Errorf("websocket dial: %w", err)
		}
	} else {
		var d net.Dialer
		if nc, err = d.DialContext(ctx, "tcp", addr); err != nil {
			return nil, fmt.Errorf("dial: %w", err)
		}
	}
	if cfg.TLS && transport != "ws" {
		tlc := tls.Client(nc, tc)
		if err := tlc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tlc
	}
	clock := &stampedReader{r: nc}
	return &conn{
		nc:        nc,
		br:        bufio.NewReaderSize(clock, readBufSize(cfg)),
		clock:     clock,
		nick:      nick,
		marker:    []byte(" :LT " + runID + " "),
		caps:      map[string]bool{},
		batchDone: make(chan batchResult, 1),
	}, nil
}

// resumed reports whether the connection's TLS handshake resumed an
// earlier session.
func (c *conn) resumed() bool {
	tc, ok := c.nc.(*tls.Conn)
	return ok && tc.ConnectionState().DidResume
}

// readBufSize is the read buffer of one connection: big for max-rate
// receivers, which read long runs of coalesced lines; otherwise just over
// the longest IRC line (8191 bytes of tags and 512 of message), so 10,000
// storm users do not cost the generator 640 MB.
func readBufSize(cfg *Config) int {
	if cfg.Scenario == ScenarioMaxRate {
		return 64 << 10
	}
	return 10 << 10
}

// send writes lines, each terminated with CR LF, in one write. It is safe
// to call from any goroutine.
func (c *conn) send(lines ...string) error {
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\r', '\n')
	}
	return c.write(b)
}

// write sends raw bytes. It is safe to call from any goroutine.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// close shuts the connection down, politely if it can.
func (c *conn) close() {
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.send("QUIT :load test done")
	c.nc.Close()
}

// readLine returns the next line without CR LF. The slice is only valid
// until the next call. Over-long lines are skipped.
func (c *conn) readLine() ([]byte, error) {
	for {
		line, err := c.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = c.br.ReadSlice('\n')
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		return trimEOL(line), nil
	}
}

// trimEOL drops the line's CR LF (or LF) without bytes.TrimRight's
// per-call set building, which showed at millions of lines a second.
func trimEOL(line []byte) []byte {
	line = line[:len(line)-1] // ReadSlice ends it with '\n'
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// step reads and handles one line. Load messages, PING and batch framing
// are dealt with here; anything else is parsed and returned (nil if the
// line was consumed).
func (c *conn) step() (*message, error) {
	line, err := c.readLine()
	if err != nil {
		return nil, err
	}
	if sender, seq, nanos, ok := loadPayload(line, c.marker); ok {
		c.handleLoad(line, sender, seq, nanos)
		return nil, nil
	}
	m := parseMessage(line)
	if c.batchID != "" && hasBatchTag(line) {
		c.batchLines++
		return nil, nil
	}
	return c.handleControl(&m)
}

// handleLoad accounts one load message: replayed or CHATHISTORY copies only
// count towards their batch, live ones go to the receiver.
func (c *conn) handleLoad(line []byte, sender int, seq, nanos int64) {
	if c.batches > 0 && hasBatchTag(line) {
		c.batchLines++
		if c.onHistory != nil {
			c.batchLast = append(c.batchLast[:0], tagValue(line, "msgid")...)
			if len(c.batchFirst) == 0 {
				c.batchFirst = append(c.batchFirst, c.batchLast...)
			}
			c.onHistory(sender, seq)
		}
		return
	}
	if c.rx == nil {
		return
	}
	if c.rx.gap != nil {
		c.rx.gap.noteLive(line)
	}
	c.rx.observe(sender, seq, c.clock.at-nanos)
}

// handleControl answers PING, tracks chathistory batches and turns ERROR
// into an error. Other messages, BATCH included (so a waiting caller sees a
// batch end), are returned to the caller.
func (c *conn) handleControl(m *message) (*message, error) {
	switch m.command {
	case "PING":
		return nil, c.send("PONG :" + m.param(0))
	case "PONG":
		if c.rx != nil && c.rx.gap != nil {
			c.rx.gap.pong(m.param(len(m.params) - 1))
		}
	case "ERROR":
		return nil, fmt.Errorf("%w: ERROR %s", errServerError, m.param(0))
	case "BATCH":
		c.handleBatch(m)
		return m, nil
	case "FAIL":
		if m.param(0) == "CHATHISTORY" {
			c.notifyBatch(batchResult{err: fmt.Errorf("%w: FAIL %s", errServerError, strings.Join(m.params, " "))})
		}
	}
	return m, nil
}

func (c *conn) handleBatch(m *message) {
	ref := m.param(0)
	switch {
	case strings.HasPrefix(ref, "+"):
		c.batches++
	case strings.HasPrefix(ref, "-") && c.batches > 0:
		c.batches--
	}
	switch {
	case strings.HasPrefix(ref, "+") && m.param(1) == "chathistory":
		c.batchID, c.batchLines = ref[1:], 0
	case strings.HasPrefix(ref, "-") && ref[1:] == c.batchID && c.batchID != "":
		c.batchID = ""
		c.notifyBatch(batchResult{lines: c.batchLines})
	}
}

func (c *conn) notifyBatch(r batchResult) {
	select {
	case c.batchDone <- r:
	default:
	}
}

// until reads lines until fn, called on each returned message, reports
// done or an error.
func (c *conn) until(fn func(m *message) (bool, error)) error {
	for {
		m, err := c.step()
		if err != nil {
			return err
		}
		if m == nil {
			continue
		}
		if done, err := fn(m); done || err != nil {
			return err
		}
	}
}

// readLoop handles lines until the connection fails or closes.
func (c *conn) readLoop() error {
	for {
		if _, err := c.step(); err != nil {
			return err
		}
	}
}

// wantedCaps are requested when offered; sasl is added for --auth sasl.
// echo-message is deliberately absent: senders must not receive their own
// messages, so expected deliveries per message are members minus one.
var wantedCaps = []string{"server-time", "message-tags", "batch", "draft/chathistory"}

// register performs CAP negotiation, SASL PLAIN or PASS, NICK/USER, and
// waits for the end of the welcome burst.
func (c *conn) register(cfg *Config) error {
	var first []string
	if cfg.Auth == "pass" {
		first = append(first, "PASS :"+cfg.Password)
	}
	if err := c.send(append(first, "CAP LS 302")...); err != nil {
		return err
	}
	offered, err := c.capLS()
	if err != nil {
		return err
	}
	if err := c.capReq(cfg, offered); err != nil {
		return err
	}
	if cfg.Auth == "sasl" {
		if err := c.authenticate(cfg.Password); err != nil {
			return err
		}
	}
	if err := c.send("CAP END", "NICK "+c.nick, "USER u 0 * :r"); err != nil {
		return err
	}
	// Registration ends with the MOTD (376) or its absence (422). A server
	// that sends neither is caught by a PING sent after 001: its PONG
	// follows the whole welcome burst.
	token, base := "reg-"+c.nick, c.nick
	return c.until(func(m *message) (bool, error) {
		switch m.command {
		case "001":
			return false, c.send("PING :" + token)
		case "376", "422":
			return true, nil
		case "005":
			c.isupport(m)
		case "433":
			if c.altNicks > 0 { // the cluster still holds our nick: take another
				c.altNicks--
				c.nick = fmt.Sprintf("%s_%d", base, c.altNicks)
				return false, c.send("NICK " + c.nick)
			}
			return false, fmt.Errorf("%w: %s %s", errServerError, m.command, m.param(len(m.params)-1))
		case "PONG":
			return m.param(len(m.params)-1) == token, nil
		case "432", "436", "464", "465":
			return false, fmt.Errorf("%w: %s %s", errServerError, m.command, m.param(len(m.params)-1))
		}
		return false, nil
	})
}

// isupport notes the tokens of an RPL_ISUPPORT line the tool uses.
func (c *conn) isupport(m *message) {
	for _, tok := range m.params[1:max(len(m.params)-1, 1)] {
		if v, ok := strings.CutPrefix(tok, "CHATHISTORY="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				c.histMax = n
			}
		}
	}
}

// capLS collects the (possibly multi-line) CAP LS reply.
func (c *conn) capLS() (map[string]bool, error) {
	offered := map[string]bool{}
	err := c.until(func(m *message) (bool, error) {
		if m.command != "CAP" || m.param(1) != "LS" {
			return false, nil
		}
		more := m.param(2) == "*"
		for f := range strings.FieldsSeq(m.param(len(m.params) - 1)) {
			name, _, _ := strings.Cut(f, "=")
			offered[name] = true
		}
		return !more, nil
	})
	return offered, err
}

// capReq requests the wanted capabilities the server offers.
func (c *conn) capReq(cfg *Config, offered map[string]bool) error {
	var req []string
	if cfg.Auth == "sasl" {
		if !offered["sasl"] {
			return fmt.Errorf("%w: server does not offer sasl; try --auth pass", errServerError)
		}
		req = append(req, "sasl")
	}
	for _, name := range wantedCaps {
		// A draft/chathistory client gets no JOIN replay from securechatd,
		// so only the scenario that asks for history itself takes it; the
		// others rejoin as a client that relies on the replay.
		if offered[name] && (name != "draft/chathistory" || cfg.Scenario == ScenarioHistory || cfg.Reconnect) {
			req = append(req, name)
		}
	}
	if len(req) == 0 {
		return nil
	}
	if err := c.send("CAP REQ :" + strings.Join(req, " ")); err != nil {
		return err
	}
	return c.until(func(m *message) (bool, error) {
		if m.command != "CAP" {
			return false, nil
		}
		switch m.param(1) {
		case "ACK":
			for _, name := range strings.Fields(m.param(len(m.params) - 1)) {
				c.caps[name] = true
			}
			return true, nil
		case "NAK":
			return false, fmt.Errorf("%w: CAP NAK %s", errServerError, m.param(2))
		}
		return false, nil
	})
}

// authenticate runs SASL PLAIN with an empty authorization identity and
// the nick as authentication identity.
func (c *conn) authenticate(password string) error {
	if err := c.send("AUTHENTICATE PLAIN"); err != nil {
		return err
	}
	payload := base64.StdEncoding.EncodeToString([]byte("\x00" + c.nick + "\x00" + password))
	return c.until(func(m *message) (bool, error) {
		switch m.command {
		case "AUTHENTICATE":
			return false, c.send(saslChunks(payload)...)
		case "903":
			return true, nil
		case "902", "904", "905", "906", "908":
			return false, fmt.Errorf("%w: SASL %s %s", errServerError, m.command, m.param(len(m.params)-1))
		}
		return false, nil
	})
}

// saslChunks splits a base64 payload into AUTHENTICATE lines of at most
// 400 bytes, ending with "+" when the last chunk is exactly 400 long.
func saslChunks(payload string) []string {
	var out []string
	for len(payload) >= 400 {
		out = append(out, "AUTHENTICATE "+payload[:400])
		payload = payload[400:]
	}
	if payload == "" {
		payload = "+"
	}
	return append(out, "AUTHENTICATE "+payload)
}

// join joins channel. onJoined runs when the server echoes our JOIN, the
// moment from which we are a member and live messages must arrive. join
// returns after the end of NAMES and of the replay batch, with the number
// of replayed lines. Servers may send the replay after NAMES, so a PING
// follows 366 and its PONG marks the end of the join burst.
func (c *conn) join(channel string, onJoined func()) (int, error) {
	if err := c.send("JOIN " + channel); err != nil {
		return 0, err
	}
	token := "join-" + channel
	names, replay := false, 0
	err := c.until(func(m *message) (bool, error) {
		switch m.command {
		case "JOIN":
			if m.nick() == c.nick && strings.EqualFold(m.param(0), channel) {
				onJoined()
			}
		case "366":
			return false, c.send("PING :" + token)
		case "PONG":
			names = names || m.param(len(m.params)-1) == token
		case "403", "405", "471", "473", "474", "475", "476", "477", "448":
			return false, fmt.Errorf("%w: JOIN %s: %s %s", errServerError, channel, m.command, m.param(len(m.params)-1))
		}
		select {
		case r := <-c.batchDone:
			replay = r.lines
		default:
		}
		return names && c.batchID == "", nil
	})
	return replay, err
}
