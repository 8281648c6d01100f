package ircd

import (
	"strings"
	"time"

	"gopkg.in/irc.v4"

	"securechat/config"
)

// operPace is the least time between two OPER attempts of one client.
// Each attempt runs Argon2 (about 200 ms and much memory), so without it
// one connection could keep a core busy guessing.
const operPace = 2 * time.Second

// mechanismOper labels failed OPER attempts in the auth failure metric.
const mechanismOper = "oper"

// handleOper grants IRC operator status for a configured name and
// password. A second attempt within operPace waits out the rest of it
// (only this client's reader sleeps); failures count against the address
// like failed logins.
func handleOper(c *Client, m *irc.Message) error {
	c.paceOper(time.Now())
	o, ok := findOper(c.srv.config().Opers, m.Params[0])
	if !ok {
		c.authFailed(mechanismOper)
		return ircError{irc.ERR_NOOPERHOST, []string{"No O-lines for your host"}}
	}
	if !o.CheckPassword([]byte(m.Params[1])) {
		c.authFailed(mechanismOper)
		return ircError{irc.ERR_PASSWDMISMATCH, []string{"Password incorrect"}}
	}
	c.mu.Lock()
	already := c.oper
	c.changeModesLocked(func() { c.oper = true })
	c.mu.Unlock()
	c.log.Info("operator status granted", "oper", o.Name)
	c.numeric(irc.RPL_YOUREOPER, "You are now an IRC operator")
	if !already {
		c.send(&irc.Message{Prefix: c.prefix(), Command: "MODE", Params: []string{c.Nick(), "+o"}})
		c.srv.link.userChanged(c)
	}
	return nil
}

// paceOper sleeps until operPace has passed since the previous attempt.
// operTried belongs to the reader goroutine, which runs every handler.
func (c *Client) paceOper(now time.Time) {
	if wait := operPace - now.Sub(c.operTried); !c.operTried.IsZero() && wait > 0 {
		time.Sleep(wait)
		now = now.Add(wait)
	}
	c.operTried = now
}

func findOper(opers []config.Oper, name string) (config.Oper, bool) {
	for _, o := range opers {
		if o.Name == name {
			return o, true
		}
	}
	return config.Oper{}, false
}

// handleKill disconnects a client. The target reads the reason in its
// ERROR line and its channels in the QUIT, both "Killed (oper (reason))".
func handleKill(c *Client, m *irc.Message) error {
	target := c.srv.lookupClient(m.Params[0])
	if target == nil {
		return ircError{irc.ERR_NOSUCHNICK, []string{paramSafe(m.Params[0]), "No such nick/channel"}}
	}
	reason := "Killed (" + c.Nick() + " (" + truncate(m.Params[1], kickLen) + "))"
	c.log.Info("kill", "target", target.Nick(), "by", c.Nick())
	target.disconnect(reason) // its quit path tells the channels this reason
	return nil
}

// handleRehash reloads the configuration the way SIGHUP does and reports
// a failure to the operator as FAIL REHASH.
func handleRehash(c *Client, _ *irc.Message) error {
	s := c.srv
	file := s.config().ConfigFile
	if file == "" {
		file = "*"
	}
	c.numeric(irc.RPL_REHASHING, paramSafe(file), "Rehashing")
	rehash := s.rehashF.Load()
	if rehash == nil {
		return nil
	}
	if err := (*rehash)(); err != nil {
		c.log.Warn("rehash failed", "err", err)
		// errors.Join separates problems with newlines; a reply is one line.
		return failError{"REHASH_FAILED", []string{"Rehash failed: " + strings.ReplaceAll(err.Error(), "\n", "; ")}}
	}
	c.log.Info("rehashed by operator")
	return nil
}
