package ircd

import (
	"crypto/tls"
	"net"
	"regexp"
	"testing"
	"time"

	"securechat/config"
	"securechat/ircd/accounts"
	"securechat/ircd/irctest"
)

// withNickGrace sets the grace period to log in for a registered nick.
func withNickGrace(d time.Duration) serverOption {
	return withConfig(func(c *config.Config) { c.Accounts, c.NickGrace = true, d })
}

// graceOf returns the grace period running for the client holding nick.
func (ts *testServer) graceOf(nick string) (*Client, *nickGrace) {
	ts.t.Helper()
	c := ts.srv.lookupClient(nick)
	if c == nil {
		ts.t.Fatalf("nobody holds %s", nick)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c, c.grace
}

// TestNickGuestRenameAfterGrace connects without logging in under a nick
// an account owns: NickServ warns, and when the grace period ends the
// client is renamed to a guest nick, seen by it and its channels; it
// cannot take the nick back.
func TestNickGuestRenameAfterGrace(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withNickGrace(2*time.Second))
	ts.registerAccount("zebra", personalPassword).quit()
	watcher := ts.registerPass("watcher")
	watcher.Join("#a")

	intruder := ts.registerPass("Zebra")
	intruder.Expect(`^:NickServ!NickServ@irc\.test NOTICE Zebra :The nick Zebra is registered to an account\. Log in to it within 2s with /msg NickServ IDENTIFY <password>, or you will be renamed\.$`)
	intruder.Join("#a")
	intruder.Expect(`^:NickServ!NickServ@irc\.test NOTICE Zebra :You did not log in to the account that owns Zebra: you are now Guest\d{5}\.$`)
	m := intruder.Expect(`^:Zebra!~Zebra@127\.0\.0\.1 NICK :?Guest\d{5}$`)
	guest := m.Params[0]
	watcher.Expect(`^:Zebra!~Zebra@127\.0\.0\.1 NICK :?` + guest + `$`)

	intruder.Nick = guest
	intruder.Send("NICK zebra")
	intruder.Expect(` 433 ` + guest + ` zebra :Nickname is reserved by a different account: log in to it first$`)
	watcher.Send("WHOIS %s", guest)
	watcher.Expect(` 311 watcher ` + guest + ` ~Zebra `)
}

// TestNickIdentifyInTimeKeepsNick connects without SASL under the
// account's own nick and logs in with NickServ IDENTIFY during the grace
// period: 900, account-notify, the grace period stopped, and its end (run
// by hand) renames nobody.
func TestNickIdentifyInTimeKeepsNick(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withNickGrace(time.Hour))
	ts.registerAccount("zebra", personalPassword).quit()
	watcher := ts.register("watcher", "account-notify")
	watcher.Join("#a")

	owner := ts.registerPass("zebra")
	owner.Expect(`NOTICE zebra :The nick zebra is registered to an account\.`)
	owner.Join("#a")
	c, g := ts.graceOf("zebra")
	if g == nil {
		t.Fatal("no grace period runs for zebra")
	}
	owner.Send("PRIVMSG NickServ :IDENTIFY zebra %s", personalPassword) // a password with spaces names the account
	owner.Expect(`^:NickServ!NickServ@irc\.test NOTICE zebra :You are now logged in as zebra\.$`)
	owner.Expect(` 900 zebra zebra!~zebra@127\.0\.0\.1 zebra :You are now logged in as zebra$`)
	watcher.Expect(`^:zebra!~zebra@127\.0\.0\.1 ACCOUNT :?zebra$`)
	if _, still := ts.graceOf("zebra"); still != nil {
		t.Fatal("the grace period still runs after IDENTIFY")
	}
	// The timer fires as IDENTIFY lands: its grace period is still the
	// current one, but the client is logged in to the owner now.
	c.mu.Lock()
	c.grace = g
	c.mu.Unlock()
	ts.srv.graceOver(c, g)
	owner.Send("WHOIS zebra")
	lines := owner.Sync()
	for _, l := range lines {
		if regexp.MustCompile(` NICK `).MatchString(l) {
			t.Fatalf("renamed after IDENTIFY: %q", l)
		}
	}
	if ts.srv.lookupClient("zebra") != c {
		t.Fatal("zebra lost its nick after IDENTIFY")
	}
}

// TestNickToReservedRefused: a NICK change to a nick another account
// owns is refused with 433, whether the client is logged in to no
// account or another one; NickServ's name is refused with 432.
func TestNickToReservedRefused(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	ts.registerAccount("zebra", personalPassword).quit()
	ts.registerAccount("carol", personalPassword).quit()
	bob := ts.registerPass("bob")
	carol := ts.loginAccount("carol", "carol", personalPassword)
	for _, c := range []*testClient{bob, carol} {
		c.Send("NICK ZEBRA")
		c.Expect(` 433 ` + c.Nick + ` ZEBRA :Nickname is reserved by a different account: log in to it first$`)
		c.Send("NICK nickserv")
		c.Expect(` 432 ` + c.Nick + ` nickserv :Nickname is reserved for a service$`)
	}
	early := ts.dial()
	early.Send("NICK NickServ")
	early.Expect(` 432 \* NickServ :Nickname is reserved for a service$`)
}

// TestNickOwnersSecondClient: the account's second client gets 433 "in
// use" for the nick its first client holds, never "reserved", and takes
// it once the first has gone.
func TestNickOwnersSecondClient(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	laptop := ts.registerAccount("zebra", personalPassword)
	phone := ts.dial()
	phone.Nick = "zebra"
	phone.Send("CAP LS 302")
	phone.Send("CAP REQ sasl")
	phone.Expect(`CAP \* ACK`)
	phone.AuthenticatePlain("zebra", personalPassword)
	phone.Expect(` 903 `)
	phone.Send("PASS :%s", testPassword)
	phone.Send("NICK zebra")
	phone.Expect(` 433 \* zebra :Nickname is already in use$`)
	phone.Send("USER zebra 0 * :Z")
	phone.Send("CAP END")
	phone.Send("NICK zebraphone")
	phone.Nick = "zebraphone"
	phone.awaitWelcome()
	phone.Send("NICK zebra")
	phone.Expect(` 433 zebraphone zebra :Nickname is already in use$`)
	laptop.quit()
	phone.Send("NICK zebra")
	phone.Expect(`^:zebraphone!\S+ NICK :?zebra$`)
}

// dialFrom connects over TLS from the loopback address local (any of
// 127/8 on Linux), so a test can play clients at two addresses.
func (ts *testServer) dialFrom(local string) *testClient {
	ts.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	raw, err := d.Dial("tcp", ts.addr)
	if err != nil {
		ts.t.Fatalf("dial from %s: %v", local, err)
	}
	nc := tls.Client(raw, ts.tlsConf)
	if err := nc.Handshake(); err != nil {
		ts.t.Fatalf("handshake: %v", err)
	}
	return &testClient{irctest.NewClient(ts.t, nc)}
}

// TestAccountLockoutPerAddress: wrong passwords from one address lock the
// account for that address only; its owner, at another, logs in.
func TestAccountLockoutPerAddress(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts(), withThrottle(accounts.ThrottleOptions{FreeFailures: 1, AccountFailures: 100, Lockout: time.Hour}))
	ts.registerAccount("zebra", personalPassword).quit()
	guesser := ts.dialFrom("127.0.0.1")
	guesser.RegisterPass("guesser", testPassword)
	for range 2 {
		guesser.Send("PRIVMSG NickServ :IDENTIFY zebra not the password")
		guesser.Expect(`NOTICE guesser :Invalid account or password\.$`)
	}
	guesser.Send("PRIVMSG NickServ :IDENTIFY zebra %s", personalPassword)
	guesser.Expect(`NOTICE guesser :Too many failed logins to this account, try again later\.$`)

	owner := ts.dialFrom("127.0.0.2")
	owner.LoginAccount("zebra", "zebra", personalPassword, testPassword)
	owner.Send("WHOIS zebra")
	owner.Expect(` 330 zebra zebra zebra :is logged in as$`)
}
