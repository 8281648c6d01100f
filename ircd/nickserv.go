package ircd

import (
	"context"
	"errors"
	"strings"

	"gopkg.in/irc.v4"

	"securechat/ircd/accounts"
)

// NickServ is the account service for clients without
// draft/account-registration: PRIVMSG NickServ :<command>, or the
// NICKSERV and NS commands. It is not a client, only a name the server
// answers for (with accounts on); its replies are NOTICEs from it, and
// what is sent to it never enters history, as it carries passwords.

const nickServ = "NickServ"

// mechanismNickServ labels failed NickServ IDENTIFYs in the auth
// failure metric.
const mechanismNickServ = "nickserv"

// nickServCommand is one NickServ command: its handler, which gets the
// text after the command word, and its line in HELP.
type nickServCommand struct {
	name, usage string
	run         func(c *Client, args string)
}

// nickServCommands is NickServ's command table, in HELP order.
func nickServCommands() []nickServCommand {
	return []nickServCommand{
		{"REGISTER", "REGISTER <password>: register your current nick as an account", nsRegister},
		{"IDENTIFY", "IDENTIFY [account] <password>: log in (a password with spaces needs the account first)", nsIdentify},
		{"LOGOUT", "LOGOUT: log out of your account", nsLogout},
		{"GROUP", "GROUP: add your current nick to your account", nsGroup},
		{"UNGROUP", "UNGROUP [nick]: remove a nick (default: your current one) from your account", nsUngroup},
		{"INFO", "INFO [account]: show an account", nsInfo},
		{"HELP", "HELP: this list", nsHelp},
	}
}

// nickServ runs one NickServ command line.
func (c *Client) nickServ(line string) {
	word, args, _ := strings.Cut(strings.TrimLeft(line, " "), " ")
	word = strings.ToUpper(word)
	for _, cmd := range nickServCommands() {
		if cmd.name == word {
			cmd.run(c, strings.TrimLeft(args, " "))
			return
		}
	}
	c.serviceNotice(nickServ, "Unknown command "+truncate(word, 32)+". /msg NickServ HELP lists the commands.")
}

func nsHelp(c *Client, _ string) {
	for _, cmd := range nickServCommands() {
		c.serviceNotice(nickServ, cmd.usage)
	}
}

// nsRegister registers the client's nick as an account with the rest of
// the line as password, and logs the client in to it.
func nsRegister(c *Client, pw string) {
	nick := c.Nick()
	if !nsCanTry(c, pw, "REGISTER <password>") {
		return
	}
	c.flushPending() // Argon2 takes a while
	ctx, cancel := context.WithTimeout(context.Background(), passwordCheckTimeout)
	defer cancel()
	a, err := c.srv.accounts.Register(ctx, nick, []byte(pw))
	switch {
	case errors.Is(err, accounts.ErrExists):
		c.serviceNotice(nickServ, "The nick "+nick+" is already registered.")
	case errors.Is(err, accounts.ErrWeak):
		c.serviceNotice(nickServ, "Passwords need at least 8 characters.")
	case err != nil:
		c.serviceNotice(nickServ, "Registration is busy, try again shortly.")
	default:
		c.log.Info("account registered") // no name: account names stay off disk
		c.srv.link.accountChanged(a)
		c.serviceNotice(nickServ, "Account "+a.Name+" registered; you are now logged in.")
		c.srv.loggedIn(c, a.Name)
	}
}

// nsCanTry refuses a REGISTER or IDENTIFY (usage syntax) from a client
// logged in already, or without a usable password pw.
func nsCanTry(c *Client, pw, syntax string) bool {
	var why string
	switch {
	case c.account() != "":
		why = "You are already logged in as " + c.account() + "; LOGOUT first."
	case pw == "":
		why = "Syntax: " + syntax
	case len(pw) > maxAccountPassword:
		why = "Passwords are at most 300 bytes."
	default:
		return true
	}
	c.serviceNotice(nickServ, why)
	return false
}

// nsIdentify logs in: IDENTIFY <password> to the account that owns the
// current nick (or is named after it), IDENTIFY <account> <password> to
// another.
func nsIdentify(c *Client, args string) {
	name, pw, two := strings.Cut(args, " ")
	if !two {
		name, pw = c.Nick(), args
	}
	if owner := c.srv.accounts.OwnerOf(name); owner != "" {
		name = owner // a grouped nick names its account
	}
	if !nsCanTry(c, pw, "IDENTIFY [account] <password>") {
		return
	}
	c.flushPending() // the password check may take a while
	ctx, cancel := context.WithTimeout(context.Background(), passwordCheckTimeout)
	defer cancel()
	a, err := c.srv.accounts.Verify(ctx, name, c.ip, []byte(pw))
	switch {
	case errors.Is(err, accounts.ErrBusy):
		c.serviceNotice(nickServ, "The server is busy, try again.")
	case errors.Is(err, accounts.ErrLocked):
		c.authFailed(mechanismNickServ)
		c.serviceNotice(nickServ, "Too many failed logins to this account, try again later.")
	case err != nil:
		c.authFailed(mechanismNickServ)
		c.serviceNotice(nickServ, "Invalid account or password.")
	default:
		c.serviceNotice(nickServ, "You are now logged in as "+a.Name+".")
		c.srv.loggedIn(c, a.Name)
	}
}

func nsLogout(c *Client, _ string) {
	if c.account() == "" {
		c.serviceNotice(nickServ, "You are not logged in.")
		return
	}
	c.srv.loggedOut(c)
}

// nsGroup adds the current nick to the client's account.
func nsGroup(c *Client, _ string) {
	acct, nick := c.account(), c.Nick()
	if acct == "" {
		c.serviceNotice(nickServ, "Log in first: GROUP adds your current nick to your account.")
		return
	}
	a, err := c.srv.accounts.Group(acct, nick)
	switch {
	case errors.Is(err, accounts.ErrNickOwned) && sameName(c.srv.accounts.OwnerOf(nick), acct):
		c.serviceNotice(nickServ, "The nick "+nick+" already belongs to your account.")
	case errors.Is(err, accounts.ErrNickOwned):
		c.serviceNotice(nickServ, "The nick "+nick+" is registered to another account.")
	case errors.Is(err, accounts.ErrTooMany):
		c.serviceNotice(nickServ, "Your account owns too many nicks; UNGROUP one first.")
	case err != nil:
		c.serviceNotice(nickServ, "The nick "+nick+" cannot be grouped.")
	default:
		c.srv.link.accountChanged(a)
		c.serviceNotice(nickServ, "The nick "+nick+" now belongs to your account "+acct+".")
	}
}

// nsUngroup removes a nick (the current one by default) from the
// client's account.
func nsUngroup(c *Client, nick string) {
	acct := c.account()
	if nick == "" {
		nick = c.Nick()
	}
	nick = truncate(nick, nickLen)
	if acct == "" {
		c.serviceNotice(nickServ, "Log in first: UNGROUP removes a nick from your account.")
		return
	}
	a, err := c.srv.accounts.Ungroup(acct, nick)
	switch {
	case errors.Is(err, accounts.ErrAccountNick):
		c.serviceNotice(nickServ, "Your account's name stays yours; it cannot be ungrouped.")
	case err != nil:
		c.serviceNotice(nickServ, "The nick "+nick+" is not grouped to your account.")
	default:
		c.srv.link.accountChanged(a)
		c.serviceNotice(nickServ, "The nick "+nick+" no longer belongs to your account.")
	}
}

// nsInfo shows an account: the one named (or owning the nick named),
// else the client's own, else the owner of the client's nick. The nicks it owns are shown only to
// its holder and to operators.
func nsInfo(c *Client, name string) {
	if f := strings.Fields(name); len(f) > 0 {
		name = truncate(f[0], nickLen)
	}
	if name == "" {
		name = c.account()
	}
	if name == "" {
		name = c.Nick()
	}
	if owner := c.srv.accounts.OwnerOf(name); owner != "" {
		name = owner // a grouped nick names its account
	}
	a, ok := c.srv.accounts.Lookup(name)
	if !ok {
		c.serviceNotice(nickServ, name+" is not a registered account.")
		return
	}
	c.serviceNotice(nickServ, "Account "+a.Name+", registered "+a.Created.UTC().Format("2006-01-02 15:04:05 MST")+".")
	if sameName(a.Name, c.account()) || c.isOper() {
		c.serviceNotice(nickServ, "Nicks: "+strings.Join(a.Nicks, " "))
	}
}

// sendServiceWhois answers WHOIS for a service's name.
func (c *Client) sendServiceWhois(nick string) {
	sv, _ := c.srv.serviceFor(nick)
	c.numeric(irc.RPL_WHOISUSER, sv.nick, sv.nick, c.srv.name(), "*", sv.realname)
	c.numeric(irc.RPL_WHOISSERVER, sv.nick, c.srv.name(), c.srv.config().Network)
	c.numeric(irc.RPL_WHOISOPERATOR, sv.nick, "is a network service")
	c.numeric(irc.RPL_ENDOFWHOIS, paramSafe(nick), "End of /WHOIS list")
}
