package ircd

import (
	"strings"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

func handlePrivmsg(c *Client, m *irc.Message) error { return c.srv.message(c, m) }
func handleNotice(c *Client, m *irc.Message) error  { return c.srv.message(c, m) }

func handleTagmsg(c *Client, m *irc.Message) error {
	if !c.caps.has(capMessageTags) {
		return nil
	}
	return c.srv.message(c, m)
}

// message relays PRIVMSG, NOTICE and TAGMSG to each target. NOTICE never
// draws an error reply, as the IRC specifications require.
func (s *Server) message(c *Client, m *irc.Message) error {
	if c.addToBatch(m) {
		return nil
	}
	targets, text := splitList(m.Params[0]), m.Param(1)
	if err := checkMessage(m, targets, text); err != nil {
		if m.Command == "NOTICE" {
			return nil
		}
		return err
	}
	tags := clientTags(c, m)
	if m.Command == "TAGMSG" && len(tags) == 0 {
		return nil
	}
	tags = c.withBotTag(tags)
	now := time.Now()
	c.lastMsg.Store(now.UnixNano())
	for _, t := range targets {
		err := s.messageOne(c, m.Command, t, text, tags, now)
		if err != nil && m.Command != "NOTICE" {
			s.replyError(c, m, err)
		}
	}
	return nil
}

// checkMessage refuses a message with no targets, too many, or no text.
func checkMessage(m *irc.Message, targets []string, text string) error {
	switch {
	case len(targets) == 0:
		return ircError{irc.ERR_NORECIPIENT, []string{"No recipient given (" + m.Command + ")"}}
	case len(targets) > maxTargets:
		return ircError{irc.ERR_TOOMANYTARGETS, []string{m.Params[0], "Too many targets"}}
	case text == "" && m.Command != "TAGMSG":
		return ircError{irc.ERR_NOTEXTTOSEND, []string{"No text to send"}}
	}
	return nil
}

// clientTags keeps the client-only (+) tags of m, which message-tags
// clients may attach and other message-tags clients receive.
func clientTags(c *Client, m *irc.Message) irc.Tags {
	if !c.caps.has(capMessageTags) || len(m.Tags) == 0 {
		return nil
	}
	var out irc.Tags
	for k, v := range m.Tags {
		if strings.HasPrefix(k, "+") && len(k) > 1 {
			if out == nil {
				out = irc.Tags{}
			}
			out[k] = v
		}
	}
	return out
}

// relayMsg is a PRIVMSG, NOTICE or TAGMSG being relayed, with its message
// and parameters in the same allocation: the relay path makes one per line.
type relayMsg struct {
	outMsg
	msg    irc.Message
	params [2]string
}

// messageOne relays a message to one target; start is when the server
// took it up, the message's time.
func (s *Server) messageOne(c *Client, cmd, target, text string, tags irc.Tags, start time.Time) error {
	at := storedTime(start)
	r := &relayMsg{params: [2]string{target, text}}
	o := &r.outMsg
	o.at, o.msgid, o.tags, o.account = at, s.newMsgID(at), tags, c.account()
	params := r.params[:]
	if cmd == "TAGMSG" {
		params = params[:1]
	}
	if strings.HasPrefix(target, "#") {
		ch := s.lookupChannel(target)
		if ch == nil {
			return ircError{irc.ERR_NOSUCHCHANNEL, []string{target, "No such channel"}}
		}
		if err := ch.canSend(c); err != nil {
			return err
		}
		params[0] = ch.name
		r.msg = irc.Message{Prefix: c.prefix(), Command: cmd, Params: params}
		o.base = &r.msg
		s.relayChannel(c, ch, o)
		s.metrics.RelayLatency.Observe(time.Since(start).Seconds())
		c.echo(o)
		s.pushMentions(c, ch, o, text)
		return nil
	}
	if s.toService(c, cmd, target, text) {
		return nil
	}
	return s.messageUser(c, o, cmd, params, start)
}

// wantMessage selects recipients: everyone but the sender, and for TAGMSG
// only clients that understand tags.
func wantMessage(sender *Client, cmd string) func(*Client) bool {
	if cmd == "TAGMSG" {
		return func(r *Client) bool { return r != sender && r.caps.has(capMessageTags) }
	}
	return func(r *Client) bool { return r != sender }
}

// wantDirect selects the recipient of a private message: anyone, for
// TAGMSG only a client that understands tags.
func wantDirect(cmd string) func(*Client) bool {
	return func(r *Client) bool { return cmd != "TAGMSG" || r.caps.has(capMessageTags) }
}

func (s *Server) messageUser(c *Client, o *outMsg, cmd string, params []string, start time.Time) error {
	target := s.lookupClient(params[0])
	if target == nil {
		return s.messageOffline(c, o, cmd, params)
	}
	params[0] = target.Nick()
	o.base = &irc.Message{Prefix: c.prefix(), Command: cmd, Params: params}
	if cmd != "TAGMSG" {
		s.recordDirect(c, target, o)
	}
	// A message to oneself is delivered too; with echo-message the sender
	// gets two lines, and only the echo is a reply that carries a label.
	s.deliverTo(&c.pending, []*Client{target}, o, wantDirect(cmd))
	s.link.direct(c, target, o)
	c.echo(o)
	s.pushDirect(c, target.account(), o)
	s.metrics.RelayLatency.Observe(time.Since(start).Seconds())
	if away := target.awayMessage(); away != "" && cmd == "PRIVMSG" {
		c.numeric(irc.RPL_AWAY, target.Nick(), away)
	}
	return nil
}

// echo sends the sender its own message when it asked for echo-message.
func (c *Client) echo(o *outMsg) {
	if c.caps.has(capEchoMessage) {
		c.sendOwn(o)
	}
}

// sendOwn sends c its copy of a broadcast as a reply, so a labeled
// command's reply carries the label.
func (c *Client) sendOwn(o *outMsg) {
	var room [4]wire.Tag
	c.sendTagged(o.render(room[:0], o.variantOf(c)))
}

// canSend applies +n, +m and bans to a message from c.
func (ch *Channel) canSend(c *Client) error {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	privs, member := ch.members[c]
	switch {
	case c.isOper():
		return nil
	case !member && ch.modes.noExternal,
		ch.modes.moderated && privs == 0,
		privs == 0 && ch.bannedLocked(c):
		return ircError{irc.ERR_CANNOTSENDTOCHAN, []string{ch.name, "Cannot send to channel"}}
	}
	return nil
}

// handleWallops sends an operator's message to every user with +w; the
// command table lets only operators use it.
func handleWallops(c *Client, m *irc.Message) error {
	text := m.Params[0]
	if text == "" {
		return ircError{irc.ERR_NEEDMOREPARAMS, []string{"WALLOPS", "Not enough parameters"}}
	}
	o := &outMsg{base: &irc.Message{Prefix: c.prefix(), Command: "WALLOPS", Params: []string{truncate(text, topicLen)}}, at: time.Now()}
	c.srv.deliverTo(&c.pending, c.srv.clientSnapshot(), o, (*Client).wantsWallops)
	c.srv.link.wallops(c, o)
	return nil
}

// wantsWallops reports whether c set user mode +w.
func (c *Client) wantsWallops() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wallops
}
