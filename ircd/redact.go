package ircd

import (
	"context"
	"errors"
	"strings"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/history"
	"securechat/ircd/wire"
)

// redaction is one REDACT being checked: who asks, what and where.
type redaction struct {
	target, msgid, reason string
	ref                   history.Ref
}

func (r *redaction) invalidTarget() failError {
	return failError{"INVALID_TARGET", []string{r.target, "You cannot delete messages from " + r.target}}
}

func (r *redaction) forbidden() failError {
	return failError{"REDACT_FORBIDDEN", []string{r.target, r.msgid, "You are not authorised to delete this message"}}
}

func (r *redaction) unknown() failError {
	return failError{"UNKNOWN_MSGID", []string{r.target, r.msgid, "This message does not exist or is too old"}}
}

// handleRedact answers draft/message-redaction's REDACT <target> <msgid>
// [:reason]. The message's sender, as its sealed record names it, may
// redact it, and so may a channel operator or an IRC operator in a
// channel. The message leaves the store and the replay ring, so no later
// replay or CHATHISTORY returns it, and members with the capability are
// told. A target c may not read is INVALID_TARGET whether or not it
// exists, so REDACT reveals nothing about history c cannot see.
func handleRedact(c *Client, m *irc.Message) error {
	r := &redaction{target: m.Params[0], msgid: m.Params[1], reason: m.Param(2)}
	at, ok := msgidTime(r.msgid)
	if strings.HasPrefix(r.target, "#") {
		ch := c.srv.lookupChannel(r.target)
		if ch == nil {
			return r.invalidTarget()
		}
		privs, member := ch.privs(c)
		if !member {
			return r.invalidTarget()
		}
		if !ok {
			return r.unknown()
		}
		r.ref = history.Ref{Time: at, ID: r.msgid}
		return c.srv.redactChannel(c, ch, r, privs&privOp != 0 || c.isOper())
	}
	if !validNick(r.target) {
		return r.invalidTarget()
	}
	if !ok {
		return r.unknown()
	}
	r.ref = history.Ref{Time: at, ID: r.msgid}
	return c.srv.redactDirect(c, r)
}

// check checks that e is a message c may redact: its own, or any
// when c is an operator of the place.
func (r *redaction) check(c *Client, e *history.Entry, op bool) error {
	switch {
	case e == nil:
		return r.unknown()
	case e.Msg.Command != "PRIVMSG" && e.Msg.Command != "NOTICE" && e.Msg.Command != "TAGMSG":
		return r.unknown()
	case op || sentBy(e, c):
		return nil
	}
	return r.forbidden()
}

// sentBy reports whether the stored message e was sent under c's nick.
// Nicks are the identity here (there are no accounts), as for reading
// private history.
func sentBy(e *history.Entry, c *Client) bool {
	return e.Msg.Prefix != nil && wire.Casefold(e.Msg.Prefix.Name) == c.foldedNick()
}

// redactChannel finds the message in the replay ring or the store,
// checks c may redact it, deletes it from both and tells the members.
// It holds the channel's loadMu throughout, so a cold ring being filled
// from the store meanwhile cannot bring the message back.
func (s *Server) redactChannel(c *Client, ch *Channel, r *redaction, op bool) error {
	key := s.channelKey(ch)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	c.flushPending() // what this command queued so far goes out before a wait
	ch.loadMu.Lock()
	defer ch.loadMu.Unlock()
	ch.mu.Lock()
	e := ch.ring.Find(r.msgid)
	ch.mu.Unlock()
	inRing := e != nil
	if !inRing {
		e, _ = s.history.Find(ctx, key, r.ref)
	}
	if err := r.check(c, e, op); err != nil {
		return err
	}
	// Not in the store but in the ring: retention or a full write
	// queue already took the record, and the ring copy goes next.
	if err := s.history.Redact(ctx, key, r.ref); err != nil && !(inRing && errors.Is(err, history.ErrNotFound)) {
		return err
	}
	o := r.notice(s, c, ch.name)
	ch.mu.Lock()
	ch.ring.Remove(r.msgid)
	s.deliverTo(&c.pending, ch.snapshot, o, redactionWanted(c))
	s.link.redacted(c, ch, o)
	ch.mu.Unlock()
	c.echoRedaction(o)
	return nil
}

// redactDirect redacts a private message c sent; only its sender may.
func (s *Server) redactDirect(c *Client, r *redaction) error {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	c.flushPending()
	key := s.directKey(c, r.target)
	e, _ := s.history.Find(ctx, key, r.ref)
	if err := r.check(c, e, false); err != nil {
		return err
	}
	if err := s.history.Redact(ctx, key, r.ref); err != nil {
		return err
	}
	o := r.notice(s, c, e.Msg.Param(0))
	if peer := s.lookupClient(r.target); peer != nil && peer != c {
		s.deliverTo(&c.pending, []*Client{peer}, o, redactionWanted(c))
	}
	c.echoRedaction(o)
	return nil
}

// notice is the REDACT line relayed for r, with a msgid of its own.
func (r *redaction) notice(s *Server, c *Client, target string) *outMsg {
	params := []string{target, r.msgid}
	if r.reason != "" {
		params = append(params, r.reason)
	}
	at := storedTime(time.Now())
	return &outMsg{base: &irc.Message{Prefix: c.prefix(), Command: "REDACT", Params: params}, at: at, msgid: s.newMsgID(at), account: c.account()}
}

// redactionWanted selects the recipients of a REDACT: those with the
// capability, the sender aside (it gets its copy as its reply).
func redactionWanted(sender *Client) func(*Client) bool {
	return func(r *Client) bool { return r != sender && r.caps.has(capMessageRedaction) }
}

// echoRedaction sends c its REDACT as the reply to its command, if it
// has the capability; a labeled REDACT without it gets an ACK.
func (c *Client) echoRedaction(o *outMsg) {
	if c.caps.has(capMessageRedaction) {
		c.sendOwn(o)
	}
}
