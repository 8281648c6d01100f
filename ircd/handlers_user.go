package ircd

import (
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

func (s *Server) lookupClient(nick string) *Client {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clients[wire.Casefold(nick)]
}

func handleNick(c *Client, m *irc.Message) error {
	if len(m.Params) == 0 || m.Params[0] == "" {
		return ircError{irc.ERR_NONICKNAMEGIVEN, []string{"No nickname given"}}
	}
	nick := m.Params[0]
	if c.srv.isServiceNick(nick) {
		return ircError{irc.ERR_ERRONEUSNICKNAME, []string{nick, "Nickname is reserved for a service"}}
	}
	if !validNick(nick) {
		return ircError{irc.ERR_ERRONEUSNICKNAME, []string{nick, "Erroneous nickname"}}
	}
	if err := c.srv.nickAllowed(c, nick); err != nil {
		return err
	}
	if !c.isRegistered() {
		if other := c.srv.lookupClient(nick); other != nil {
			return ircError{irc.ERR_NICKNAMEINUSE, []string{nick, "Nickname is already in use"}}
		}
		c.mu.Lock()
		c.nick, c.nickFolded = nick, wire.Casefold(nick)
		c.mu.Unlock()
		c.srv.tryRegister(c)
		return nil
	}
	return c.srv.changeNick(c, nick)
}

// changeNick renames a registered client and tells it and its neighbours.
func (s *Server) changeNick(c *Client, nick string) error {
	folded := wire.Casefold(nick)
	inUse := ircError{irc.ERR_NICKNAMEINUSE, []string{nick, "Nickname is already in use"}}
	s.nickMu.Lock()
	defer s.nickMu.Unlock()
	if other := s.lookupClient(nick); other != nil && other != c {
		return inUse
	}
	if c.Nick() == nick {
		return nil
	}
	if !s.link.renameNick(c.foldedNick(), folded) {
		return inUse // another node's user holds it
	}
	s.mu.Lock()
	if other, taken := s.clients[folded]; taken && other != c {
		s.mu.Unlock() // a remote user arrived with it meanwhile
		s.link.renameNick(folded, c.foldedNick())
		return inUse
	}
	old := s.setNickLocked(c, nick, folded)
	s.mu.Unlock()
	s.announceNick(c, old, nick, c.sendOwn) // a reply, so a labeled NICK's own line carries the label
	return nil
}

// setNickLocked moves c to nick in the nick map and returns its old
// prefix. s.mu is held.
func (s *Server) setNickLocked(c *Client, nick, folded string) (old *irc.Prefix) {
	old = c.prefix()
	delete(s.clients, wire.Casefold(old.Name))
	s.clients[folded] = c
	c.mu.Lock()
	c.nick, c.nickFolded = nick, folded
	c.mu.Unlock()
	return old
}

// announceNick tells c's neighbours and watchers that c, formerly old,
// is now nick, and c itself through self.
func (s *Server) announceNick(c *Client, old *irc.Prefix, nick string, self func(*outMsg)) {
	s.whowas.add(old, c)
	o := &outMsg{base: &irc.Message{Prefix: old, Command: "NICK", Params: []string{nick}}, at: time.Now(), account: c.account()}
	s.deliver(c.neighbours(), o, nil)
	self(o)
	s.monitorNickChange(old.Name, c.prefix())
	s.link.userChanged(c)
}

// removeClient is the quit path of a registered client: it leaves every
// channel, tells the neighbours and frees the nick.
//
// The nick leaves the nick map first, so whoever sees the QUIT and asks
// about the nick finds it gone; a local client holds nickMu throughout,
// so nobody takes the nick here (or, in a cluster, in Redis) before the
// QUIT has gone out.
func (s *Server) removeClient(c *Client, reason string) {
	if c.remote == nil {
		s.nickMu.Lock()
		defer s.nickMu.Unlock()
	}
	s.mu.Lock()
	folded := c.foldedNick()
	gone := s.clients[folded] == c
	if gone {
		delete(s.clients, folded)
	}
	s.mu.Unlock()
	s.notifyNeighbours(c, &irc.Message{Prefix: c.prefix(), Command: "QUIT", Params: []string{reason}}, 0, false)
	s.link.quit(c, reason)
	for _, ch := range c.channelList() {
		s.leave(c, ch)
	}
	s.monitors.remove(c)
	if gone {
		s.monitorNickChange(c.Nick(), nil)
	}
	c.mu.Lock()
	c.setListedLocked(false)
	c.mu.Unlock()
	s.whowas.add(c.prefix(), c)
}

func handleAway(c *Client, m *irc.Message) error {
	text := truncate(m.Param(0), awayLen)
	c.mu.Lock()
	c.away = text
	c.mu.Unlock()
	if text == "" {
		c.numeric(irc.RPL_UNAWAY, "You are no longer marked as being away")
	} else {
		c.numeric(irc.RPL_NOWAWAY, "You have been marked as being away")
	}
	params := []string{}
	if text != "" {
		params = append(params, text)
	}
	c.srv.notifyChange(c, &irc.Message{Prefix: c.prefix(), Command: "AWAY", Params: params}, capAwayNotify, false)
	return nil
}

// notifyAway tells ch's away-notify members that c, who just joined, is away.
func (s *Server) notifyAway(c *Client, ch *Channel) {
	m := &irc.Message{Prefix: c.prefix(), Command: "AWAY", Params: []string{c.awayMessage()}}
	s.deliver(ch.Members(), &outMsg{base: m, at: time.Now()}, func(r *Client) bool {
		return r != c && r.caps.has(capAwayNotify)
	})
}

func (c *Client) awayMessage() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.away
}

func (c *Client) isAway() bool { return c.awayMessage() != "" }

func handleSetname(c *Client, m *irc.Message) error {
	name := m.Params[0]
	if len(name) > realnameLen {
		return failError{"INVALID_REALNAME", []string{"Realname is too long"}}
	}
	c.mu.Lock()
	c.realname = name
	c.mu.Unlock()
	c.srv.notifyChange(c, &irc.Message{Prefix: c.prefix(), Command: "SETNAME", Params: []string{name}}, capSetname, true)
	return nil
}

// withBotTag adds the bot tag to the tags of a message from c when c has
// user mode +B, so message-tags clients can tell bots from people. tags
// is not changed; a bot's messages get a copy.
func (c *Client) withBotTag(tags irc.Tags) irc.Tags {
	c.mu.Lock()
	bot := c.bot
	c.mu.Unlock()
	if !bot {
		return tags
	}
	out := make(irc.Tags, len(tags)+1)
	for k, v := range tags {
		out[k] = v
	}
	out["bot"] = ""
	return out
}
