package ircd

import (
	"math/rand/v2"
	"strconv"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

// Nick ownership, with accounts on. A registered nick (an account's
// name, or a nick grouped to it) belongs to its account, and the rule is
// one: a client may hold a nick owned by an account it is not logged in
// to only for the grace period (--nick-grace), and only if it came by the
// nick without asking for it while already connected:
//
//   - connecting with such a nick (or holding one when logging out)
//     draws a NOTICE from NickServ and starts the grace period; a client
//     that logs in to the account in time (NickServ IDENTIFY, as SASL is
//     over by then) keeps the nick, any other is renamed to a guest nick
//     when it ends;
//   - a NICK change to such a nick is refused with 433, as Ergo does
//     under strict enforcement: a client that is connected already can
//     log in first.
//
// The owner's clients are never refused because of the account; two of
// them still cannot hold the same nick at once (433, in use).

// nickGrace is one grace period running for a client; Client.mu guards
// Client.grace, which points at the current one.
type nickGrace struct {
	folded string // the nick it is for
	timer  *time.Timer
}

// nickAllowed refuses a NICK to a service's name and, once c is
// connected, to a nick owned by an account c is not logged in to.
func (s *Server) nickAllowed(c *Client, nick string) error {
	switch {
	case s.accounts == nil:
		return nil
	case s.isServiceNick(nick):
		return ircError{irc.ERR_ERRONEUSNICKNAME, []string{nick, "Nickname is reserved for a service"}}
	case !c.isRegistered():
		return nil // the grace period starts once c is connected
	}
	if owner := s.accounts.OwnerOf(nick); owner != "" && !sameName(owner, c.account()) {
		return ircError{irc.ERR_NICKNAMEINUSE, []string{nick, "Nickname is reserved by a different account: log in to it first"}}
	}
	return nil
}

func sameName(a, b string) bool { return wire.Casefold(a) == wire.Casefold(b) }

// enforceNick starts the grace period when c holds a nick owned by an
// account it is not logged in to, and ends one that no longer applies.
// It runs on c's reader when c connects, logs in or logs out.
func (s *Server) enforceNick(c *Client) {
	if s.accounts == nil {
		return
	}
	nick := c.Nick()
	owner := s.accounts.OwnerOf(nick)
	owed := owner != "" && !sameName(owner, c.account())
	c.mu.Lock()
	g := c.grace
	switch {
	case c.nickFolded != wire.Casefold(nick):
		owed = false // a grace period just ended in a rename
	case !owed && g != nil:
		g.timer.Stop()
		c.grace = nil
	case owed && (g == nil || g.folded != c.nickFolded):
		if g != nil {
			g.timer.Stop()
		}
		g = &nickGrace{folded: c.nickFolded}
		c.grace = g
		g.timer = time.AfterFunc(s.config().NickGrace, func() { s.graceOver(c, g) })
	default:
		owed = false // nothing changed: no second notice
	}
	c.mu.Unlock()
	if owed {
		c.serviceNotice(nickServ, "The nick "+nick+" is registered to an account. Log in to it within "+
			s.config().NickGrace.String()+" with /msg NickServ IDENTIFY <password>, or you will be renamed.")
	}
}

// graceOver ends grace period g of c: if c still holds the nick and is
// not logged in to its owner, c is renamed to a free guest nick. It runs
// on the timer's goroutine, so it pushes and flushes as it goes.
func (s *Server) graceOver(c *Client, g *nickGrace) {
	owner := s.accounts.OwnerOf(g.folded)
	s.mu.Lock()
	c.mu.Lock()
	due := c.grace == g && c.nickFolded == g.folded && owner != "" && !sameName(owner, c.account())
	if c.grace == g {
		c.grace = nil
	}
	c.mu.Unlock()
	if !due || s.clients[g.folded] != c {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.renameToGuest(c, "You did not log in to the account that owns "+c.Nick())
	c.log.Info("renamed to a guest nick", "reason", "nick owned by an account")
}

// renameToGuest moves c to a free guest nick and tells it why. It runs
// on a goroutine other than c's reader, so it pushes and flushes as it
// goes.
func (s *Server) renameToGuest(c *Client, why string) {
	s.nickMu.Lock()
	defer s.nickMu.Unlock()
	s.mu.Lock()
	guest := s.guestNickLocked()
	old := s.setNickLocked(c, guest, wire.Casefold(guest))
	s.mu.Unlock()
	s.link.renameNick(wire.Casefold(old.Name), wire.Casefold(guest))
	notice := &outMsg{base: &irc.Message{Prefix: s.servicePrefix(nickServ), Command: "NOTICE",
		Params: []string{old.Name, why + ": you are now " + guest + "."}}}
	s.deliver([]*Client{c}, notice, nil)
	s.announceNick(c, old, guest, func(o *outMsg) { s.deliver([]*Client{c}, o, nil) })
}

// guestNickLocked returns a nick nobody holds or owns, Guest and five
// digits. s.mu is held.
func (s *Server) guestNickLocked() string {
	for {
		nick := "Guest" + strconv.Itoa(10000+rand.IntN(90000))
		if _, taken := s.clients[wire.Casefold(nick)]; !taken && s.accounts.OwnerOf(nick) == "" {
			return nick
		}
	}
}
