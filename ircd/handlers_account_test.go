package ircd

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"securechat/config"
	"securechat/ircd/accounts"
	"securechat/store"
	"securechat/store/redistest"
)

const personalPassword = "horse battery staple"

// withAccounts turns accounts on.
func withAccounts() serverOption {
	return withConfig(func(c *config.Config) { c.Accounts = true })
}

// withThrottle sets the account registry's login throttle.
func withThrottle(th accounts.ThrottleOptions) serverOption {
	return func(s *testServerSetup) { s.throttle = th }
}

// registerAccount registers the account nick before connecting and
// waits for the welcome burst.
func (ts *testServer) registerAccount(nick, password string, caps ...string) *testClient {
	ts.t.Helper()
	c := ts.dial()
	c.RegisterAccount(nick, password, testPassword, caps...)
	return c
}

// loginAccount logs in to account as nick with SASL PLAIN, the room
// password in PASS, and waits for the welcome burst.
func (ts *testServer) loginAccount(nick, account, password string, caps ...string) *testClient {
	ts.t.Helper()
	c := ts.dial()
	c.LoginAccount(nick, account, password, testPassword, caps...)
	return c
}

// quit sends QUIT and waits for the server to hang up.
func (c *testClient) quit() {
	c.T().Helper()
	c.Send("QUIT")
	c.ExpectClosed()
}

// TestAccountCapsOnlyWithAccounts checks CAP LS offers the account
// capabilities, with registration's value, only when accounts are on,
// and that REGISTER is an unknown command when they are off.
func TestAccountCapsOnlyWithAccounts(t *testing.T) {
	t.Parallel()
	on := newTestServer(t, withAccounts()).dial()
	on.Send("CAP LS 302")
	ls := " "
	for {
		m := on.Expect(`CAP \* LS`)
		ls += m.Trailing() + " "
		if m.Param(2) != "*" {
			break
		}
	}
	for _, c := range []string{"account-tag", "account-notify", "draft/account-registration=before-connect"} {
		if !strings.Contains(ls, " "+c+" ") {
			t.Errorf("with accounts on, CAP LS lacks %s: %s", c, ls)
		}
	}
	off := newTestServer(t)
	c := off.dial()
	c.Send("CAP REQ :account-notify")
	c.Expect(`CAP \* NAK :?account-notify$`)
	c.Send("REGISTER * * :%s", personalPassword)
	c.Expect(` 451 \* :You have not registered$`)
	r := off.register("alice")
	r.Send("REGISTER * * :%s", personalPassword)
	r.Expect(` 421 alice REGISTER :Unknown command$`)
	r.Send("VERIFY alice 123")
	r.Expect(` 421 alice VERIFY :Unknown command$`)
}

// TestRegisterThenLogin registers an account before connecting, then
// logs in to it from a second connection with SASL PLAIN account and
// personal password and the room password in PASS.
func TestRegisterThenLogin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	ts.registerAccount("zebra", personalPassword).quit()

	c := ts.loginAccount("Zebra", "zebra", personalPassword)
	c.Send("WHOIS Zebra")
	c.Expect(` 330 Zebra Zebra zebra :is logged in as$`)

	// A second client (a phone beside the laptop) logs in to the same
	// account under another nick; the first stays logged in.
	phone := ts.loginAccount("zebraphone", "zebra", personalPassword)
	phone.Send("WHOIS Zebra")
	phone.Expect(` 330 zebraphone Zebra zebra :is logged in as$`)
	c.Send("WHOIS zebraphone")
	c.Expect(` 330 Zebra zebraphone zebra :is logged in as$`)
}

// TestSASLBeforeNickNamesTheAccount logs in before sending NICK: 900
// names the account, with "*" only where the client's nick belongs.
func TestSASLBeforeNickNamesTheAccount(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	ts.registerAccount("zebra", personalPassword)
	c := ts.dial()
	c.Send("CAP LS 302")
	c.Send("CAP REQ sasl")
	c.Expect(`CAP \* ACK`)
	c.AuthenticatePlain("zebra", personalPassword)
	c.Expect(`^:irc\.test 900 \* \*!\*@127\.0\.0\.1 zebra :You are now logged in as zebra$`)
	c.Expect(` 903 \* `)
	c.Send("PASS :%s", testPassword)
	c.Send("NICK zeb")
	c.Send("USER zeb 0 * :Z")
	c.Send("CAP END")
	c.Nick = "zeb"
	c.awaitWelcome()
}

// TestAccountLoginWithoutRoomPassword: a personal password logs in to the
// account but does not admit the client; without PASS it is refused at
// the end of registration with 464 and a message saying what is missing.
func TestAccountLoginWithoutRoomPassword(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	ts.registerAccount("zebra", personalPassword)
	c := ts.dial()
	c.Nick = "zeb"
	c.Send("CAP LS 302")
	c.Send("NICK zeb")
	c.Send("USER zeb 0 * :Z")
	c.Send("CAP REQ sasl")
	c.Expect(`CAP \S+ ACK`)
	c.AuthenticatePlain("zebra", personalPassword)
	c.Expect(` 903 zeb `)
	c.Send("CAP END")
	c.Expect(` 464 zeb :Room password required: send it with PASS \(your account password goes in SASL\)$`)
	c.Expect(`^ERROR `)
	c.ExpectClosed()
}

// TestAccountWrongPasswordLocksOut checks the brute-force throttle over
// the wire: wrong personal passwords draw 904, and once the account is
// locked even the right one is refused.
func TestAccountWrongPasswordLocksOut(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts(), withThrottle(accounts.ThrottleOptions{FreeFailures: 1, Lockout: time.Hour}))
	ts.registerAccount("zebra", personalPassword)
	c := ts.dial()
	c.Nick = "zeb"
	c.Send("CAP LS 302")
	c.Send("CAP REQ sasl")
	c.Expect(`CAP \* ACK`)
	for range 2 {
		c.AuthenticatePlain("zebra", "not the password")
		c.Expect(` 904 \* :SASL authentication failed$`)
	}
	c.AuthenticatePlain("zebra", personalPassword)
	c.Expect(` 904 \* :SASL authentication failed: too many failed logins to this account, try again later$`)
	c.AuthenticatePlain("nobody", personalPassword)
	c.Expect(` 904 \* :SASL authentication failed$`)
}

// TestRegisterErrors runs REGISTER and VERIFY into each refusal.
func TestRegisterErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	ts.registerAccount("taken", personalPassword).quit()

	noNick := ts.dial()
	noNick.Send("PASS :%s", testPassword)
	noNick.Send("REGISTER * * :%s", personalPassword)
	noNick.Expect(`^:irc\.test FAIL REGISTER NEED_NICK \* :`)

	noPass := ts.dial()
	noPass.Send("NICK nopass")
	noPass.Send("REGISTER * * :%s", personalPassword)
	noPass.Expect(`^:irc\.test FAIL REGISTER TEMPORARILY_UNAVAILABLE nopass :Give the room password with PASS before registering an account$`)

	c := ts.registerPass("alice")
	heldNick := ts.dial()
	heldNick.Send("PASS :%s", testPassword)
	heldNick.Send("NICK alice")
	heldNick.Send("REGISTER * * :%s", personalPassword)
	heldNick.Expect(` 433 \* alice `)
	heldNick.Expect(`^:irc\.test FAIL REGISTER NEED_NICK \* :`) // alice's nick is not registered away from her

	for _, tc := range []struct{ line, want string }{
		{"REGISTER bob * :" + personalPassword, `FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK bob :`},
		{"REGISTER alice * :short", `FAIL REGISTER WEAK_PASSWORD alice :`},
		{"REGISTER * * :" + strings.Repeat("p", 301), `FAIL REGISTER UNACCEPTABLE_PASSWORD alice :`},
		{"REGISTER alice *", ` 461 alice REGISTER :Not enough parameters$`},
		{"VERIFY alice 1234", `FAIL VERIFY INVALID_CODE alice :`},
		{"NICK TAKEN", ` 433 alice TAKEN :Nickname is reserved by a different account`},
		{"REGISTER * * :" + personalPassword, `REGISTER SUCCESS alice :`},
		{"REGISTER * * :" + personalPassword, `FAIL REGISTER ALREADY_AUTHENTICATED alice :`},
		{"VERIFY alice 1234", `FAIL VERIFY ALREADY_AUTHENTICATED alice :`},
	} {
		c.Send("%s", tc.line)
		c.Expect(tc.want)
	}
	// Connecting under the account's name (for its grace period) does
	// not make it registrable again.
	squatter := ts.registerPass("TAKEN")
	squatter.Send("REGISTER * * :%s", personalPassword)
	squatter.Expect(`FAIL REGISTER ACCOUNT_EXISTS TAKEN :`)
}

// TestAccountReportedConsistently checks that every place an account
// shows agrees: account-notify when someone registers after connecting,
// the account tag on their messages, extended-join, WHOIS 330 and WHOX
// %a; and that a client with no account shows none.
func TestAccountReportedConsistently(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	ts.registerAccount("carol", personalPassword).quit()
	alice := ts.register("alice", "extended-join", "account-notify", "account-tag", "message-tags")
	plain := ts.register("dave", "extended-join") // no account-tag or account-notify
	bob := ts.registerPass("bob")
	for _, c := range []*testClient{alice, plain, bob} {
		c.Join("#a")
	}
	alice.Expect(`^:bob!\S+ JOIN #a \* :Real bob$`)
	alice.Send("WHO bob %na,7")
	alice.Expect(` 354 alice bob 0$`)

	bob.Send("REGISTER * * :%s", personalPassword)
	bob.Expect(`REGISTER SUCCESS bob `)
	bob.Expect(` 900 bob bob!~bob@127\.0\.0\.1 bob :You are now logged in as bob$`)
	alice.Expect(`^@account=bob :bob!~bob@127\.0\.0\.1 ACCOUNT bob$`)

	bob.Send("PRIVMSG #a :hello")
	alice.Expect(`^@msgid=\S+;account=bob :bob!\S+ PRIVMSG #a :?hello$`)
	plain.Expect(`^:bob!\S+ PRIVMSG #a :?hello$`)
	alice.Send("WHO bob %na,7")
	alice.Expect(` 354 alice bob bob$`)
	alice.Send("WHOIS bob")
	alice.Expect(` 330 alice bob bob :is logged in as$`)

	carol := ts.loginAccount("carol", "carol", personalPassword)
	carol.Join("#a")
	alice.Expect(`^@account=carol :carol!\S+ JOIN #a carol :Real carol$`)
	plain.Expect(`^:carol!\S+ JOIN #a carol :Real carol$`)

	bob.Send("NICK bobby")
	alice.Expect(`^@account=bob :bob!\S+ NICK :?bobby$`)
	bob.Send("QUIT :bye")
	alice.Expect(`^@account=bob :bobby!\S+ QUIT :Quit: bye$`)

	alice.Send("PRIVMSG #a :from alice")
	plain.Expect(`^:alice!\S+ PRIVMSG #a :from alice$`) // no account, no tag anywhere
	carol.Expect(`^:alice!\S+ PRIVMSG #a :from alice$`)
}

// accountMarkers are what must never be readable at rest after
// registering "zebraaccount".
func accountMarkers(ts *testServer) []string {
	a, ok := ts.srv.accounts.Lookup("zebraaccount")
	if !ok {
		ts.t.Fatal("zebraaccount not registered")
	}
	parts := strings.Split(a.Hash, "$") // salt and hash, as they appear in the PHC string
	return []string{"zebraaccount", personalPassword, a.Hash, parts[4], parts[5]}
}

// TestAccountsSurviveRestartRedis registers an account on a real Redis,
// restarts the server on it and logs in; neither the Redis keys and values
// nor the RDB file hold the name, the password or its hash.
func TestAccountsSurviveRestartRedis(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t, redistest.WithArgs("--rdbcompression", "no"))
	ts := env.server(t, withAccounts())
	ts.registerAccount("zebraaccount", personalPassword)
	markers := accountMarkers(ts)
	ts.shutdown()
	env.assertNoMarker(t, markers)

	again := env.server(t, withAccounts())
	again.loginAccount("zebraaccount", "zebraaccount", personalPassword)
}

// TestAccountsSurviveRestartBolt is the same on the embedded bbolt store:
// the account comes back after the file is closed and reopened, and the
// file holds none of its secrets.
func TestAccountsSurviveRestartBolt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "securechat.db")
	vault := newTestVault(t)
	st := openBolt(t, path)
	ts := newTestServer(t, withAccounts(), withStore(st, vault))
	ts.registerAccount("zebraaccount", personalPassword)
	markers := accountMarkers(ts)
	ts.shutdown()
	scanBolt(t, st, path, markers)

	ts = newTestServer(t, withAccounts(), withStore(openBolt(t, path), vault))
	ts.loginAccount("zebraaccount", "zebraaccount", personalPassword)
}

func openBolt(t *testing.T, path string) *store.Bolt {
	t.Helper()
	st, err := store.OpenBolt(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// awaitWelcome waits for 001 and the end of the MOTD.
func (c *testClient) awaitWelcome() {
	c.T().Helper()
	c.Expect(` 001 `)
	c.Expect(` (376|422) `)
}
