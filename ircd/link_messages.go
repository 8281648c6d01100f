package ircd

import (
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/history"
	"securechat/ircd/transport"
)

// Messages from other nodes' users: each node delivers them to its own
// local recipients, and keeps channel messages in its replay ring; the
// sender's node stored them.

// remoteChannelMessage delivers a channel message from another node to
// the local members and keeps it in the replay ring; its node stored it.
func (s *Server) remoteChannelMessage(ev *event, p *transport.Pending) {
	ch := s.lookupChannel(ev.Chan)
	if ch == nil || !validMessageCommand(ev.Cmd) {
		return
	}
	o := remoteOut(ev, ch.name)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	s.deliverTo(p, ch.snapshot, o, wantMessage(nil, ev.Cmd))
	if ev.Cmd != "TAGMSG" {
		s.keepLocked(ch, entryOf(o))
	}
	s.observeLag(o.at)
}

// remoteDirect delivers a private message from another node's user.
func (s *Server) remoteDirect(ev *event, p *transport.Pending) {
	t := s.localUser(ev.Nick, ev.Target)
	if t == nil || !validMessageCommand(ev.Cmd) {
		return
	}
	o := remoteOut(ev, t.Nick())
	s.deliverTo(p, []*Client{t}, o, wantDirect(ev.Cmd))
	s.observeLag(o.at)
}

// remoteOut builds the outgoing message of a remote PRIVMSG, NOTICE or
// TAGMSG with its origin's time and msgid.
func remoteOut(ev *event, target string) *outMsg {
	params := []string{target, ev.Text}
	if ev.Cmd == "TAGMSG" {
		params = params[:1]
	}
	return &outMsg{
		base: &irc.Message{Prefix: irc.ParsePrefix(ev.From), Command: ev.Cmd, Params: params},
		at:   msgTime(ev.At), msgid: ev.MsgID, tags: ev.Tags, account: ev.Acct,
	}
}

func validMessageCommand(cmd string) bool {
	return cmd == "PRIVMSG" || cmd == "NOTICE" || cmd == "TAGMSG"
}

// mlLine is one line of a multiline message in an event.
type mlLine struct {
	Cmd  string   `json:"c"`
	Text string   `json:"x"`
	Tags irc.Tags `json:"g,omitempty"`
}

// multilineEvent describes a multiline message from c, stored as e.
func multilineEvent(c *Client, e *history.Entry, ch string) *event {
	ev := &event{Kind: evMultiline, Chan: ch, From: e.Msg.Prefix.String(), Cmd: e.Msg.Command,
		Tags: e.Msg.Tags, At: e.At.UnixMilli(), MsgID: e.MsgID, Acct: c.account()}
	for _, l := range e.Lines {
		ev.Lines = append(ev.Lines, mlLine{Cmd: l.Command, Text: l.Param(1), Tags: l.Tags})
	}
	return ev
}

// remoteMultiline rebuilds a multiline message from another node for the
// local recipients: a channel's members, or one local user.
func (s *Server) remoteMultiline(ev *event, p *transport.Pending) {
	if len(ev.Lines) == 0 || !validMessageCommand(ev.Cmd) {
		return
	}
	if ev.Target != "" {
		if t := s.localUser(ev.Nick, ev.Target); t != nil {
			ml := &multilineMsg{e: remoteEntry(ev, t.Nick()), ref: s.newBatchRef()}
			s.deliverMultiline(p, ml, []*Client{t}, nil)
		}
		return
	}
	ch := s.lookupChannel(ev.Chan)
	if ch == nil {
		return
	}
	ml := &multilineMsg{e: remoteEntry(ev, ch.name), ref: s.newBatchRef()}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	s.deliverMultiline(p, ml, ch.snapshot, nil)
	s.keepLocked(ch, ml.e)
	s.observeLag(ml.e.At)
}

// remoteEntry is the history entry of a multiline event sent to target.
func remoteEntry(ev *event, target string) *history.Entry {
	prefix := irc.ParsePrefix(ev.From)
	lines := make([]*irc.Message, len(ev.Lines))
	for i, l := range ev.Lines {
		lines[i] = &irc.Message{Tags: l.Tags, Prefix: prefix, Command: l.Cmd, Params: []string{target, l.Text}}
	}
	first := &irc.Message{Tags: ev.Tags, Prefix: prefix, Command: ev.Cmd, Params: lines[0].Params}
	return &history.Entry{Msg: first, Lines: lines, At: msgTime(ev.At), MsgID: ev.MsgID}
}

// remoteRedact removes a message redacted on another node from the
// replay ring and tells local members; the redactor's node changed the
// store.
func (s *Server) remoteRedact(ev *event) {
	ch := s.lookupChannel(ev.Chan)
	if ch == nil || len(ev.Params) == 0 {
		return
	}
	params := append([]string{ch.name}, ev.Params...)
	o := &outMsg{base: &irc.Message{Prefix: irc.ParsePrefix(ev.From), Command: "REDACT", Params: params},
		at: msgTime(ev.At), msgid: ev.MsgID, account: ev.Acct}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.ring.Remove(ev.Params[0])
	s.deliverTo(nil, ch.snapshot, o, redactionWanted(nil))
}

// remoteWallops delivers an operator's WALLOPS from another node to the
// local users with +w.
func (s *Server) remoteWallops(ev *event) {
	o := &outMsg{base: &irc.Message{Prefix: irc.ParsePrefix(ev.From), Command: "WALLOPS", Params: []string{ev.Text}}, at: time.Now()}
	s.deliver(s.clientSnapshot(), o, (*Client).wantsWallops)
}
