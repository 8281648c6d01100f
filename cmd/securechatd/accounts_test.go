package main

import (
	"testing"

	"securechat/ircd/irctest"
)

// TestAccountsAcrossRestart runs the real binary with --accounts: an
// account registered before one restart logs in after it with SASL PLAIN
// and the room password in PASS, and no file in the data directory holds
// the account name or its password.
func TestAccountsAcrossRestart(t *testing.T) {
	t.Parallel()
	const (
		account  = "zebraaccount"
		personal = "horse battery staple"
	)
	spec := daemonSpec{dataDir: t.TempDir(), env: passwordEnv(roomPassword), args: []string{"--accounts"}}
	d := startDaemon(t, spec)
	c := d.dial()
	c.Nick = account
	c.Send("PASS :%s", roomPassword)
	c.Send("NICK %s", account)
	c.Send("REGISTER * * :%s", personal)
	c.Expect(` REGISTER SUCCESS ` + account + ` `)
	c.Expect(` 900 ` + account + ` \S+ ` + account + ` `)
	c.Send("USER z 0 * :Z")
	c.Expect(` 001 `)
	d.stop()

	d = startDaemon(t, spec)
	c = d.dial()
	c.Nick = "zeb"
	c.Send("CAP LS 302")
	c.Send("PASS :%s", roomPassword)
	c.Send("NICK zeb")
	c.Send("USER z 0 * :Z")
	c.Send("CAP REQ sasl")
	c.Expect(`CAP \S+ ACK`)
	c.Send("AUTHENTICATE PLAIN")
	c.Expect(`AUTHENTICATE \+`)
	c.Send("AUTHENTICATE %s", irctest.SASLPlain(account, personal))
	c.Expect(` 900 zeb zeb!\S+ ` + account + ` :You are now logged in as ` + account + `$`)
	c.Expect(` 903 `)
	c.Send("CAP END")
	c.Expect(` 001 zeb `)
	d.stop()

	assertNoFileHolds(t, spec.dataDir, account, personal, roomPassword)
}
