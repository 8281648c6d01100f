package irctest

import (
	"regexp"
	"strings"
)

// RegisterAccount connects as nick, gives roomPassword with PASS and, before
// the connection completes, registers the account nick with password
// (draft/account-registration REGISTER), negotiating caps on the way. It
// waits for REGISTER SUCCESS, 900 and the end of the MOTD, and returns the
// welcome burst.
func (c *Client) RegisterAccount(nick, password, roomPassword string, caps ...string) []string {
	c.t.Helper()
	c.startAccountRegistration(nick, roomPassword, caps)
	c.Send("REGISTER * * :%s", password)
	c.Expect(` REGISTER SUCCESS ` + regexp.QuoteMeta(nick) + ` `)
	c.expectLoggedIn(nick, nick)
	c.Send("CAP END")
	return c.welcome()
}

// LoginAccount connects as nick, logs in to account with SASL PLAIN and
// its password, gives roomPassword with PASS, and waits for 900, 903 and
// the end of the MOTD. It returns the welcome burst.
func (c *Client) LoginAccount(nick, account, password, roomPassword string, caps ...string) []string {
	c.t.Helper()
	c.startAccountRegistration(nick, roomPassword, append([]string{"sasl"}, caps...))
	c.AuthenticatePlain(account, password)
	c.expectLoggedIn(nick, account)
	c.Expect(` 903 ` + regexp.QuoteMeta(nick) + ` `)
	c.Send("CAP END")
	return c.welcome()
}

// AuthenticatePlain runs SASL PLAIN as user with password, up to the
// server's verdict, which the caller expects.
func (c *Client) AuthenticatePlain(user, password string) {
	c.t.Helper()
	c.Send("AUTHENTICATE PLAIN")
	c.Expect(`AUTHENTICATE \+`)
	c.Send("AUTHENTICATE %s", SASLPlain(user, password))
}

func (c *Client) startAccountRegistration(nick, roomPassword string, caps []string) {
	c.t.Helper()
	c.Nick = nick
	c.Send("CAP LS 302")
	c.Send("PASS :%s", roomPassword)
	c.Send("NICK %s", nick)
	c.Send("USER %s 0 * :Real %s", nick, nick)
	if len(caps) > 0 {
		c.Send("CAP REQ :%s", strings.Join(caps, " "))
		c.Expect(`CAP \S+ ACK`)
	}
}

// expectLoggedIn waits for 900 naming account, sent to nick.
func (c *Client) expectLoggedIn(nick, account string) {
	c.t.Helper()
	n, a := regexp.QuoteMeta(nick), regexp.QuoteMeta(account)
	c.Expect(` 900 ` + n + ` ` + n + `!\S+ ` + a + ` :You are now logged in as ` + a + `$`)
}
