package ircd

import (
	"context"
	"errors"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/accounts"
	"securechat/ircd/wire"
	"securechat/metrics"
)

// maxAccountPassword bounds a personal password, so it still fits in a
// SASL PLAIN payload and a NickServ-style message (the
// draft/account-registration spec suggests 300 bytes).
const maxAccountPassword = 300

// passwordCheckTimeout bounds how long one login or registration waits
// for its Argon2 run; the registry gives up earlier when it is busy.
const passwordCheckTimeout = 30 * time.Second

// handleRegister is draft/account-registration's REGISTER <account|*>
// <email|*> <password>. The account is named for the client's nick
// (there is no custom-account-name), the email is ignored (nothing is
// sent), and before the connection completes the room password must
// already have come with PASS, so REGISTER never bypasses it.
func handleRegister(c *Client, m *irc.Message) error {
	name, err := registerName(c, m.Params[0])
	if err != nil {
		return err
	}
	pw := m.Params[2]
	switch {
	case !c.reg.authed && !c.isRegistered():
		return failError{"TEMPORARILY_UNAVAILABLE", []string{name, "Give the room password with PASS before registering an account"}}
	case len(pw) > maxAccountPassword:
		return failError{"UNACCEPTABLE_PASSWORD", []string{name, "Passwords are at most 300 bytes"}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), passwordCheckTimeout)
	defer cancel()
	a, err := c.srv.accounts.Register(ctx, name, []byte(pw))
	switch {
	case errors.Is(err, accounts.ErrExists):
		return failError{"ACCOUNT_EXISTS", []string{name, "That account already exists"}}
	case errors.Is(err, accounts.ErrBadName):
		return failError{"BAD_ACCOUNT_NAME", []string{name, "Account names follow the nick rules"}}
	case errors.Is(err, accounts.ErrWeak):
		return failError{"WEAK_PASSWORD", []string{name, "Passwords need at least 8 characters"}}
	case err != nil:
		return failError{"TEMPORARILY_UNAVAILABLE", []string{name, "Registration is busy, try again shortly"}}
	}
	c.log.Info("account registered") // no name: account names stay off disk
	c.srv.link.accountChanged(a)
	c.reply("REGISTER", "SUCCESS", a.Name, "Account created; you are now logged in")
	c.srv.loggedIn(c, a.Name)
	return nil
}

// registerName is the account REGISTER asks for: the client's nick,
// given as "*" or spelled out.
func registerName(c *Client, asked string) (string, error) {
	nick := c.Nick()
	switch {
	case c.account() != "":
		return "", failError{"ALREADY_AUTHENTICATED", []string{c.account(), "You are already logged in to an account"}}
	case nick == "":
		return "", failError{"NEED_NICK", []string{"*", "Choose a nick with NICK first: the account is named after it"}}
	case asked != "*" && wire.Casefold(asked) != wire.Casefold(nick):
		return "", failError{"ACCOUNT_NAME_MUST_BE_NICK", []string{asked, "The account name must be your current nick"}}
	}
	// Before registration a nick is only asked for: someone connected
	// may hold it, and must not lose it to an account behind their back.
	if holder := c.srv.lookupClient(nick); holder != nil && holder != c {
		return "", failError{"ACCOUNT_EXISTS", []string{nick, "That nick is in use by someone else"}}
	}
	return nick, nil
}

// handleVerify answers VERIFY: registration here needs no verification
// code (no email is sent), so there is never one to check.
func handleVerify(c *Client, m *irc.Message) error {
	if a := c.account(); a != "" {
		return failError{"ALREADY_AUTHENTICATED", []string{a, "You are already logged in to an account"}}
	}
	return failError{"INVALID_CODE", []string{m.Params[0], "Registration here needs no verification: REGISTER logs you in at once"}}
}

// saslAccount logs c in to the account authcid (or authzid, if that is
// all the client gave) with its personal password. It does not admit c
// to the server: the room password must still come with PASS.
func saslAccount(c *Client, authzid, authcid string, pw []byte) error {
	name := authcid
	if name == "" {
		name = authzid
	}
	if authzid != "" && wire.Casefold(authzid) != wire.Casefold(name) {
		c.authFailed(metrics.MechanismSASLPlain)
		return ircError{irc.ERR_SASLFAIL, []string{"SASL authentication failed: you may only log in as yourself"}}
	}
	c.flushPending() // the password check may take a while
	ctx, cancel := context.WithTimeout(context.Background(), passwordCheckTimeout)
	defer cancel()
	a, err := c.srv.accounts.Verify(ctx, name, c.ip, pw)
	switch {
	case errors.Is(err, accounts.ErrLocked):
		c.authFailed(metrics.MechanismSASLPlain)
		return ircError{irc.ERR_SASLFAIL, []string{"SASL authentication failed: too many failed logins to this account, try again later"}}
	case errors.Is(err, accounts.ErrBusy):
		return ircError{irc.ERR_SASLFAIL, []string{"SASL authentication failed: the server is busy, try again"}}
	case err != nil:
		c.authFailed(metrics.MechanismSASLPlain)
		return ircError{irc.ERR_SASLFAIL, []string{"SASL authentication failed"}}
	}
	c.reg.saslDone = true
	c.srv.loggedIn(c, a.Name)
	c.numeric(irc.RPL_SASLSUCCESS, "SASL authentication successful")
	return nil
}

// loggedIn records that c is logged in to account and tells c (900) and,
// once c is registered, those who share a channel with it or monitor it
// under extended-monitor (account-notify), and ends a grace period for
// a nick the account owns.
func (s *Server) loggedIn(c *Client, account string) {
	c.acct.Store(&account)
	c.numeric(irc.RPL_LOGGEDIN, c.loginMask(), account, "You are now logged in as "+account)
	if c.isRegistered() {
		s.notifyChange(c, &irc.Message{Prefix: c.prefix(), Command: "ACCOUNT", Params: []string{account}}, capAccountNotify, false)
		s.enforceNick(c)
	}
}

// loggedOut is loggedIn's reverse: 901, account-notify "ACCOUNT *", and a
// grace period if c holds a nick the account owns.
func (s *Server) loggedOut(c *Client) {
	c.acct.Store(nil)
	c.numeric(irc.RPL_LOGGEDOUT, c.loginMask(), "You are now logged out")
	s.notifyChange(c, &irc.Message{Prefix: c.prefix(), Command: "ACCOUNT", Params: []string{"*"}}, capAccountNotify, false)
	s.enforceNick(c)
}

// loginMask is nick!user@host for 900, with "*" for the parts a client
// that logs in before NICK or USER has not given yet.
func (c *Client) loginMask() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	nick, user := c.nick, c.user
	if nick == "" {
		nick = "*"
	}
	if user == "" {
		user = "*"
	}
	return nick + "!" + user + "@" + c.host
}
