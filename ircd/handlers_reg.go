package ircd

import (
	"bytes"
	"encoding/base64"
	"strings"
	"time"

	"gopkg.in/irc.v4"

	"securechat/metrics"
)

// SASL limits: AUTHENTICATE carries base64 in chunks of 400 bytes; a PLAIN
// payload never needs more than a handful of them.
const (
	saslChunk     = 400
	saslMaxChunks = 10
)

func handlePass(c *Client, m *irc.Message) error {
	if c.isRegistered() || c.reg.passTried {
		return ircError{irc.ERR_ALREADYREGISTERED, []string{"You may not reregister"}}
	}
	c.reg.passTried = true
	if c.srv.history.CheckPassword([]byte(m.Params[0])) {
		c.reg.authed = true
	}
	return nil
}

func handleUser(c *Client, m *irc.Message) error {
	if c.isRegistered() {
		return ircError{irc.ERR_ALREADYREGISTERED, []string{"You may not reregister"}}
	}
	user := m.Params[0]
	if !validUser(user) {
		return ircError{irc.ERR_NEEDMOREPARAMS, []string{"USER", "Invalid username"}}
	}
	if m.Params[3] == "" {
		return ircError{irc.ERR_NEEDMOREPARAMS, []string{"USER", "Not enough parameters"}}
	}
	c.mu.Lock()
	// The tilde marking an unverified username counts towards USERLEN.
	c.user, c.realname = "~"+truncate(user, userLen-1), truncate(m.Params[3], realnameLen)
	c.mu.Unlock()
	c.srv.tryRegister(c)
	return nil
}

func handlePing(c *Client, m *irc.Message) error {
	c.reply("PONG", c.srv.name(), m.Params[0])
	return nil
}

func handlePong(*Client, *irc.Message) error { return nil }

func handleQuit(c *Client, m *irc.Message) error {
	reason := "Client Quit"
	if len(m.Params) > 0 {
		reason = "Quit: " + truncate(m.Params[0], topicLen)
	}
	c.sendError(reason)
	c.requestQuit(reason)
	return nil
}

func handleAuthenticate(c *Client, m *irc.Message) error {
	switch {
	case c.isRegistered() || c.reg.saslDone || c.account() != "":
		return ircError{irc.ERR_SASLALREADY, []string{"You have already authenticated using SASL"}}
	case !c.caps.has(capSASL):
		return ircError{irc.ERR_SASLFAIL, []string{"SASL authentication failed: sasl capability not enabled"}}
	case m.Params[0] == "*":
		c.resetSASL()
		return ircError{irc.ERR_SASLABORTED, []string{"SASL authentication aborted"}}
	case c.reg.saslMech == "":
		return startSASL(c, m.Params[0])
	}
	return saslChunkIn(c, m.Params[0])
}

func startSASL(c *Client, mech string) error {
	if !strings.EqualFold(mech, "PLAIN") {
		c.numeric(irc.RPL_SASLMECHS, "PLAIN", "are available SASL mechanisms")
		return ircError{irc.ERR_SASLFAIL, []string{"SASL authentication failed"}}
	}
	c.reg.saslMech = "PLAIN"
	c.send(&irc.Message{Command: "AUTHENTICATE", Params: []string{"+"}})
	return nil
}

// saslChunkIn collects one AUTHENTICATE chunk; a chunk shorter than 400
// bytes (or "+") ends the payload.
func saslChunkIn(c *Client, chunk string) error {
	if len(chunk) > saslChunk {
		c.resetSASL()
		return ircError{irc.ERR_SASLTOOLONG, []string{"SASL message too long"}}
	}
	c.reg.saslChunks++
	if c.reg.saslChunks > saslMaxChunks {
		c.resetSASL()
		return ircError{irc.ERR_SASLTOOLONG, []string{"SASL message too long"}}
	}
	if chunk != "+" {
		c.reg.saslBuf.WriteString(chunk)
	}
	if len(chunk) == saslChunk {
		return nil
	}
	payload := c.reg.saslBuf.String()
	c.resetSASL()
	return finishSASLPlain(c, payload)
}

func (c *Client) resetSASL() {
	c.reg.saslMech = ""
	c.reg.saslBuf.Reset()
	c.reg.saslChunks = 0
}

// finishSASLPlain checks authzid NUL authcid NUL password. The room
// password admits the client under any user name and logs in to no
// account: everyone shares it, so it proves no identity (no 900, as WHOX
// and WHOIS agree). With accounts on, any other password is tried as the
// personal password of the account the user name names.
func finishSASLPlain(c *Client, payload string) error {
	raw, err := base64.StdEncoding.DecodeString(payload)
	parts := bytes.Split(raw, []byte{0})
	switch {
	case err != nil || len(parts) != 3:
	case c.srv.history.CheckPassword(parts[2]):
		c.reg.authed, c.reg.saslDone = true, true
		c.numeric(irc.RPL_SASLSUCCESS, "SASL authentication successful")
		return nil
	case c.srv.accounts != nil:
		return saslAccount(c, string(parts[0]), string(parts[1]), parts[2])
	}
	c.authFailed(metrics.MechanismSASLPlain)
	return ircError{irc.ERR_SASLFAIL, []string{"SASL authentication failed"}}
}

// authFailed counts a failed login and holds this client's reply back, so
// that guessing the password from one address is slow.
func (c *Client) authFailed(mechanism string) {
	c.srv.metrics.AuthFailures.WithLabelValues(mechanism).Inc()
	c.log.Info("authentication failed", "mechanism", mechanism)
	c.flushPending() // what is queued goes out before the delay
	time.Sleep(c.srv.guard.authFailed(c.ip))
}

// tryRegister completes registration once NICK, USER and CAP negotiation
// are done: the password is checked, the nick claimed, the welcome sent.
func (s *Server) tryRegister(c *Client) {
	c.mu.Lock()
	ready := c.nick != "" && c.user != "" && !c.registered
	c.mu.Unlock()
	if !ready || c.reg.capNegotiating {
		return
	}
	if !c.reg.authed {
		mech := "none"
		if c.reg.passTried {
			mech = "pass"
		}
		c.authFailed(mech)
		s.metrics.Registrations.WithLabelValues(metrics.ResultBadPassword).Inc()
		if c.account() != "" {
			// Logged in to an account, but the server itself still
			// wants the room password.
			c.numeric(irc.ERR_PASSWDMISMATCH, "Room password required: send it with PASS (your account password goes in SASL)")
			c.sendError("Room password required")
			c.requestQuit("Bad password")
			return
		}
		c.numeric(irc.ERR_PASSWDMISMATCH, "Password incorrect")
		c.sendError("Bad password")
		c.requestQuit("Bad password")
		return
	}
	if taken := s.claimNick(c); taken != "" {
		c.numeric(irc.ERR_NICKNAMEINUSE, taken, "Nickname is already in use")
		return
	}
	s.link.userChanged(c)
	s.metrics.Registrations.WithLabelValues(metrics.ResultOK).Inc()
	c.log.Info("registered", "nick", c.Nick(), "tls", c.tls)
	s.welcome(c)
	s.monitorNickChange("", c.prefix())
	s.enforceNick(c)
}

// claimNick makes c a registered client under its chosen nick. If another
// client took the nick first, it clears c's nick and returns the lost one.
func (s *Server) claimNick(c *Client) (taken string) {
	s.nickMu.Lock()
	defer s.nickMu.Unlock()
	if !s.link.claimNick(c.foldedNick()) {
		return c.clearNick() // another node's user holds it
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if other, ok := s.clients[c.nickFolded]; ok && other != c {
		if other.remote != nil {
			s.link.releaseNick(c.nickFolded) // its node has not freed it in Redis yet
		}
		taken = c.nick
		c.nick, c.nickFolded = "", ""
		return taken
	}
	s.clients[c.nickFolded] = c
	c.registered = true
	c.setListedLocked(true)
	return ""
}

// clearNick forgets the nick c asked for and returns it.
func (c *Client) clearNick() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	taken := c.nick
	c.nick, c.nickFolded = "", ""
	return taken
}

func (s *Server) welcome(c *Client) {
	cfg := s.config()
	c.numeric(irc.RPL_WELCOME, "Welcome to the "+cfg.Network+" IRC network "+c.hostmask())
	c.numeric(irc.RPL_YOURHOST, "Your host is "+s.name()+", running version "+s.version)
	c.numeric(irc.RPL_CREATED, "This server was created "+s.created.UTC().Format(time.RFC1123))
	c.numeric(irc.RPL_MYINFO, s.name(), s.version, userModes, channelModes, channelModesWithParam)
	for _, line := range s.isupportLines() {
		params := append(append([]string(nil), line...), "are supported by this server")
		c.numeric(irc.RPL_ISUPPORT, params...)
	}
	s.sendLusers(c)
	s.sendMOTD(c)
}
