package ircd

import (
	"os"
	"path/filepath"
	"testing"

	"securechat/store"
	"securechat/store/redistest"
)

// restartEnv starts servers one after another on one store, as a daemon
// restarted on the same data would be, and scans the data at rest
// between them.
type restartEnv struct {
	start func(t *testing.T) *testServer
	// scan checks, with the last server shut down, that no marker is in
	// the data at rest.
	scan func(t *testing.T, markers []string)
}

func redisRestartEnv(t *testing.T) restartEnv {
	env := newRedisEnv(t, redistest.WithArgs("--rdbcompression", "no"))
	return restartEnv{
		start: func(t *testing.T) *testServer { return env.server(t, withAccounts()) },
		scan:  env.assertNoMarker,
	}
}

func boltRestartEnv(t *testing.T) restartEnv {
	path, vault := filepath.Join(t.TempDir(), "securechat.db"), newTestVault(t)
	var st *store.Bolt
	return restartEnv{
		start: func(t *testing.T) *testServer {
			st = openBolt(t, path)
			return newTestServer(t, withAccounts(), withStore(st, vault))
		},
		scan: func(t *testing.T, markers []string) { scanBolt(t, st, path, markers) },
	}
}

// scanBolt closes st, the bolt store at path, and checks that the file
// holds no marker.
func scanBolt(t *testing.T, st *store.Bolt, path string, markers []string) {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	assertNoMarker(t, "bolt file", raw, markers)
}

// chanServSays waits for a NOTICE from ChanServ to c containing text.
func (c *testClient) chanServSays(text string) {
	c.T().Helper()
	c.Expect(`^:ChanServ!ChanServ@irc\.test NOTICE ` + c.Nick + ` :.*` + text)
}

// TestRegisteredChannelKeepsSettings registers a channel with +i, +k,
// +l, a ban, an exception, an invite exception and an invite; empties it;
// restarts the server (on Redis, and on bolt). A stranger is kept out by
// the key and +i; the invited nick, the first to join, gets in without
// ops; the founder joins with the key and gets ops, and finds every
// setting as it was. After UNREGISTER the settings lapse with the last
// member again. Neither the founder account, the key nor a mask is in
// the store in clear.
func TestRegisteredChannelKeepsSettings(t *testing.T) {
	t.Parallel()
	for name, newEnv := range map[string]func(*testing.T) restartEnv{"redis": redisRestartEnv, "bolt": boltRestartEnv} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			ts := env.start(t)
			founder := ts.registerAccount("founderqz9", personalPassword)
			founder.Join("#regqz9")
			ts.registerPass("guestqz9")
			for _, line := range []string{
				"MODE #regqz9 +ikl keyqz9 5",
				"MODE #regqz9 +beI banqz9!*@* exceptqz9!*@* invexqz9!*@*",
				"INVITE guestqz9 #regqz9",
			} {
				founder.Send("%s", line)
			}
			founder.Expect(` 341 founderqz9 guestqz9 #regqz9$`)
			founder.Send("PRIVMSG ChanServ :REGISTER #regqz9")
			founder.chanServSays(`#regqz9 is now registered to founderqz9: `)
			founder.Send("PART #regqz9")
			founder.Expect(`:founderqz9!\S+ PART #regqz9`)
			ts.shutdown()
			env.scan(t, []string{"founderqz9", "keyqz9", "banqz9", "exceptqz9", "invexqz9", "regqz9", "guestqz9"})

			ts = env.start(t)
			stranger := ts.registerPass("strangerqz9")
			stranger.Send("JOIN #regqz9")
			stranger.Expect(` 475 strangerqz9 #regqz9 `)
			stranger.Send("JOIN #regqz9 keyqz9")
			stranger.Expect(` 473 strangerqz9 #regqz9 `)

			guest := ts.registerPass("guestqz9")
			guest.Send("JOIN #regqz9 keyqz9")
			guest.Expect(` 353 guestqz9 = #regqz9 :?guestqz9$`) // first in, yet no ops

			founder = ts.loginAccount("founderqz9", "founderqz9", personalPassword)
			founder.Send("JOIN #regqz9 keyqz9")
			founder.Expect(` 353 founderqz9 = #regqz9 :(@founderqz9 guestqz9|guestqz9 @founderqz9)$`)
			founder.Send("MODE #regqz9")
			founder.Expect(` 324 founderqz9 #regqz9 \+intkl keyqz9 5$`)
			for mode, want := range map[string]string{"b": ` 367 founderqz9 #regqz9 banqz9!\*@\* `, "e": ` 348 founderqz9 #regqz9 exceptqz9!\*@\* `, "I": ` 346 founderqz9 #regqz9 invexqz9!\*@\* `} {
				founder.Send("MODE #regqz9 %s", mode)
				founder.Expect(want)
			}
			founder.Send("CS INFO #regqz9")
			founder.chanServSays(`#regqz9 is registered to founderqz9 since `)

			founder.Send("CHANSERV UNREGISTER #regqz9")
			founder.chanServSays(`#regqz9 is no longer registered`)
			founder.Send("PART #regqz9")
			founder.Expect(`:founderqz9!\S+ PART #regqz9`)
			guest.Send("PART #regqz9")
			guest.Expect(`:guestqz9!\S+ PART #regqz9`)
			stranger.Send("JOIN #regqz9")
			stranger.Expect(` 353 strangerqz9 = #regqz9 :?@strangerqz9$`) // lapsed: a new channel
		})
	}
}

// TestChanServRefusals runs ChanServ into each refusal and checks its
// replies come as NOTICEs from ChanServ, that its nick is reserved, and
// that without accounts it does not exist; and that the founder regains
// ops on rejoining a channel others kept, and a RENAME keeps the
// registration.
func TestChanServRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	founder := ts.registerAccount("founder", personalPassword)
	other := ts.registerAccount("other", personalPassword)
	guest := ts.registerPass("guest")
	founder.Join("#c")
	other.Join("#c")
	guest.Join("#c")

	guest.Send("PRIVMSG ChanServ :REGISTER #c")
	guest.chanServSays(`Log in to an account`)
	other.Send("CS REGISTER #c")
	other.chanServSays(`You must be an operator of #c to register it\.$`)
	other.Send("CS INFO #c")
	other.chanServSays(`#c is not registered\.$`)
	founder.Send("CS REGISTER #nosuch")
	founder.chanServSays(`#nosuch does not exist\.$`)
	founder.Send("CS REGISTER #c")
	founder.chanServSays(`#c is now registered to founder`)
	founder.Send("CS REGISTER #c")
	founder.chanServSays(`#c is already registered to founder\.$`)
	other.Send("CS UNREGISTER #c")
	other.chanServSays(`Only the founder of #c may unregister it\.$`)
	other.Send("CS HELP")
	other.chanServSays(`REGISTER <#channel>`)
	other.Send("CHANSERV")
	other.Expect(` 461 other CHANSERV :Not enough parameters$`)
	other.Send("NICK ChanServ")
	other.Expect(` 432 other ChanServ :Nickname is reserved for a service$`)
	other.Send("NOTICE ChanServ :REGISTER #c") // never answered
	other.Send("PING sync")
	other.Expect(`PONG \S+ :?sync$`)

	// The founder regains ops on rejoining a channel others kept.
	founder.Send("PART #c")
	founder.Expect(`:founder!\S+ PART #c`)
	founder.Join("#c")
	founder.Send("NAMES #c")
	founder.Expect(` 353 founder = #c :.*@founder`)
	founder.Send("RENAME #c #d :moved") // the registration moves with it
	founder.Send("CS INFO #d")
	founder.chanServSays(`#d is registered to founder since `)

	off := newTestServer(t).register("alice")
	off.Send("CS INFO #c")
	off.Expect(` 421 alice CS :Unknown command$`)
	off.Send("PRIVMSG ChanServ :INFO #c")
	off.Expect(` 401 alice ChanServ :No such nick/channel$`)
	off.Send("NICK ChanServ")
	off.Expect(`:alice!\S+ NICK :?ChanServ$`)
}
