package ircd

import (
	"strings"
	"time"
)

// chanServNick is ChanServ's nick, the sender of its replies.
const chanServNick = "ChanServ"

// chanServHelp is ChanServ's answer to HELP and to what it does not know.
var chanServHelp = []string{
	"ChanServ keeps a registered channel's modes, key, limit, ban, exception and invite lists, and invites when it empties and across restarts, and gives its founder ops on joining.",
	"REGISTER <#channel>: register a channel you are an operator of to your account.",
	"UNREGISTER <#channel>: drop the registration (founder or IRC operator); the settings then lapse when the channel empties.",
	"INFO <#channel>: show whether and to whom a channel is registered.",
}

// chanServ runs one ChanServ request: a subcommand and a channel.
func (c *Client) chanServ(line string) {
	s, args := c.srv, strings.Fields(line)
	if len(args) < 2 || !strings.HasPrefix(args[1], "#") {
		c.chanServReply(chanServHelp...)
		return
	}
	ch := s.lookupChannel(args[1])
	if ch == nil || !c.canSee(ch) {
		c.chanServReply(truncate(args[1], channelLen) + " does not exist.")
		return
	}
	switch strings.ToUpper(args[0]) {
	case "REGISTER":
		c.chanServReply(s.registerChannel(c, ch))
	case "UNREGISTER":
		c.chanServReply(s.unregisterChannel(c, ch))
	case "INFO":
		c.chanServReply(channelInfo(ch))
	default:
		c.chanServReply(chanServHelp...)
	}
}

func (c *Client) chanServReply(lines ...string) {
	for _, l := range lines {
		c.serviceNotice(chanServNick, l)
	}
}

// registerChannel registers ch to c's account if c is one of its
// operators, and returns the reply.
func (s *Server) registerChannel(c *Client, ch *Channel) string {
	account := c.account()
	if account == "" {
		return "Log in to an account (SASL, or REGISTER) before registering a channel."
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	switch {
	case ch.registeredLocked():
		return ch.name + " is already registered to " + ch.reg.founder + "."
	case ch.members[c]&privOp == 0:
		return "You must be an operator of " + ch.name + " to register it."
	}
	ch.reg = chanRegistration{founder: account, at: storedTime(time.Now())}
	s.saveRegisteredLocked(ch)
	s.link.registered(ch)
	return ch.name + " is now registered to " + account + ": its settings now persist, and you get ops when you join."
}

// unregisterChannel drops ch's registration if c is its founder or an
// IRC operator, and returns the reply. The settings lapse at once if
// the channel is empty, as they would have when it emptied.
func (s *Server) unregisterChannel(c *Client, ch *Channel) string {
	ch.mu.Lock()
	switch {
	case !ch.registeredLocked():
		ch.mu.Unlock()
		return ch.name + " is not registered."
	case !ch.isFounderLocked(c) && !c.isOper():
		ch.mu.Unlock()
		return "Only the founder of " + ch.name + " may unregister it."
	}
	ch.reg = chanRegistration{}
	if len(ch.members) == 0 {
		ch.lapseLocked()
	}
	s.history.SaveChannel(s.channelKey(ch), ch.stateLocked())
	s.link.registered(ch)
	ch.mu.Unlock()
	s.dropIfEmpty(ch)
	return ch.name + " is no longer registered: its settings lapse when it empties."
}

// channelInfo says whether, since when and to whom ch is registered.
func channelInfo(ch *Channel) string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !ch.registeredLocked() {
		return ch.name + " is not registered."
	}
	return ch.name + " is registered to " + ch.reg.founder + " since " + ch.reg.at.UTC().Format(time.RFC3339) + "."
}
