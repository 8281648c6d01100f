package ircd

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/transport"
	"securechat/ircd/wire"
	"securechat/metrics"
)

// Client is one connected user. Its reader goroutine owns the registration
// fields (reg) and runs every handler for it; mu guards what other clients'
// goroutines read or change (identity, away, modes, channel set).
type Client struct {
	srv        *Server
	remote     *remoteUser // set for a user of another node (ghost.go); nil for a local one
	id         uint64
	conn       *transport.Conn
	pending    transport.Pending // queues pushed to and not yet flushed; reader only
	ip         netip.Addr
	tls        bool
	listener   string
	log        *slog.Logger
	caps       capSet // written only by the reader goroutine, read by others atomically
	reg        registration
	flood      floodBucket
	lastMsg    atomic.Int64 // unix nanos of the last PRIVMSG/NOTICE, for WHOIS idle
	signon     time.Time
	quitOnce   sync.Once
	quitReason atomic.Pointer[string]
	label      *labelCollector        // reply collector of the labeled command in progress
	scratch    []byte                 // send's serialization buffer; reader only
	operTried  time.Time              // last OPER attempt, for pacing; reader goroutine only
	mline      *multilineBatch        // the draft/multiline batch being received; reader only
	acct       atomic.Pointer[string] // account logged in to; nil: none. Written by the reader only

	mu         sync.Mutex
	nick       string
	nickFolded string
	user       string
	host       string
	realname   string
	away       string
	oper       bool
	invisible  bool
	wallops    bool
	bot        bool // user mode +B
	registered bool
	listed     bool // counted in the server's LUSERS totals (registered, not yet removed)
	channels   map[*Channel]struct{}
	meta       userMeta // draft/metadata-2

	// grace is the running grace period to log in for the registered
	// nick c holds, if any (see nickowner.go).
	grace *nickGrace
}

// registration is the state of the connection handshake, touched only by
// the client's reader goroutine.
type registration struct {
	capNegotiating bool
	capVersion     int
	authed         bool
	passTried      bool
	saslMech       string
	saslBuf        strings.Builder
	saslChunks     int
	saslDone       bool
}

// Nick returns the client's current nickname. It is safe to call from any
// goroutine.
func (c *Client) Nick() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nick
}

func (c *Client) prefix() *irc.Prefix {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &irc.Prefix{Name: c.nick, User: c.user, Host: c.host}
}

// hostmask returns nick!user@host.
func (c *Client) hostmask() string {
	return c.prefix().String()
}

// nickOrStar is the first parameter of numerics: the nick, or "*" before one
// is chosen.
func (c *Client) nickOrStar() string {
	if n := c.Nick(); n != "" {
		return n
	}
	return "*"
}

func (c *Client) isRegistered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.registered
}

func (c *Client) channelList() []*Channel {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Channel, 0, len(c.channels))
	for ch := range c.channels {
		out = append(out, ch)
	}
	return out
}

// sendLine queues a serialized line and flushes it. It is safe to call
// from any goroutine and never blocks; a client whose queue overflows is
// disconnected.
func (c *Client) sendLine(line []byte) { c.push(nil, line) }

// push queues lines in order, as one push, for flushing by p (nil: at
// once). p belongs to the calling goroutine.
func (c *Client) push(p *transport.Pending, lines ...[]byte) {
	if c.remote != nil {
		return // its own node delivers to it
	}
	c.afterPush(c.conn.Push(p, lines...))
}

// flushPending flushes every queue c's reader pushed to since its last
// flush. Reader goroutine only.
func (c *Client) flushPending() { c.pending.Flush() }

// afterPush cuts off a client whose send queue a push overflowed: the
// reason first, so the quit path reports it, then the socket, which frees
// its reader and any writer stuck on the peer at once.
func (c *Client) afterPush(overflowed bool) {
	if overflowed {
		m := c.srv.metrics
		m.SendQDrops.Inc()
		m.Refused.WithLabelValues(metrics.ReasonSendQ).Inc()
		c.log.Info("disconnecting slow client", "reason", "sendq")
		c.requestQuit("SendQ exceeded")
		c.conn.Abort()
	}
}

// send serializes and queues m for this client, routing it through the
// labeled-response collector when a labeled command is being handled. Only
// the client's reader goroutine calls it.
func (c *Client) send(m *irc.Message) {
	c.sendTagged(wire.SortedTags(m.Tags), m)
}

// sendTagged is send with the tags given apart from m (m.Tags is
// ignored), as fan-out and replay build them. Reader goroutine only: it
// serializes into the client's scratch buffer, which the queue copies.
func (c *Client) sendTagged(tags []wire.Tag, m *irc.Message) {
	if c.remote != nil {
		return // nothing is sent to a remote user from here
	}
	switch {
	case c.label == nil:
	case c.label.ref != "":
		tags = inBatch(tags, c.label.ref)
	default:
		c.label.add(tags, m)
		return
	}
	c.srv.metrics.Out(m.Command).Inc()
	c.scratch = wire.AppendLine(c.scratch[:0], tags, m)
	c.push(&c.pending, c.scratch) // flushed by c's reader before it waits
}

// reply sends a numeric or command from the server to this client.
func (c *Client) reply(command string, params ...string) {
	c.send(&irc.Message{
		Prefix:  &irc.Prefix{Name: c.srv.name()},
		Command: command,
		Params:  params,
	})
}

// numeric sends a numeric reply with the client's nick as first parameter.
func (c *Client) numeric(code string, params ...string) {
	c.reply(code, append([]string{c.nickOrStar()}, params...)...)
}

// fail sends an IRCv3 standard reply FAIL: the command, the code, any
// context and, last, the description.
func (c *Client) fail(command, code string, context ...string) {
	if len(context) == 0 {
		context = []string{"Command failed"} // the description is required
	}
	c.reply("FAIL", append([]string{command, code}, context...)...)
}

func (c *Client) foldedNick() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nickFolded
}

func (c *Client) isOper() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.oper
}

// account is the account c is logged in to, or "" when it is logged in
// to none (always, when accounts are off: the room password is shared,
// so it proves no identity). Everything that reports an account (WHOX
// %a, WHOIS 330, extended-join, account-tag) asks here. Safe from any
// goroutine.
func (c *Client) account() string {
	if a := c.acct.Load(); a != nil {
		return *a
	}
	return ""
}

// accountOrStar is c's account as extended-join shows it: "*" for none.
func accountOrStar(c *Client) string {
	if a := c.account(); a != "" {
		return a
	}
	return "*"
}

func (c *Client) realName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.realname
}
