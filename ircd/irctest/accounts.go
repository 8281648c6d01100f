package irctest

import "regexp"

// RegisterAccount connects as nick, gives roomPassword with PASS and, before
// the connection completes, registers the account nick with password
// (draft/account-registration REGISTER), negotiating caps on the way. It
// waits for REGISTER SUCCESS, 900 and the end of the MOTD, and returns the
// welcome burst.
func (c *Client) RegisterAccount(nick, password, roomPassword string, caps ...string) []string {
	c.t.Helper()
	c.startPass(nick, roomPassword, true, caps)
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
	c.startPass(nick, roomPassword, true, append([]string{"sasl"}, caps...))
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

// expectLoggedIn waits for 900 naming account, sent to nick.
func (c *Client) expectLoggedIn(nick, account string) {
	c.t.Helper()
	n, a := regexp.QuoteMeta(nick), regexp.QuoteMeta(account)
	c.Expect(` 900 ` + n + ` ` + n + `!\S+ ` + a + ` :You are now logged in as ` + a + `$`)
}
