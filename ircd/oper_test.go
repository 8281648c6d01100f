package ircd

import (
	"errors"
	"strings"
	"testing"
	"time"

	"securechat/config"
	"securechat/crypto"
)

const operPassword = "hunter2 but longer"

// withOper configures the operator "admin" with a real Argon2id hash.
// Hashing takes about 200 ms, so a test makes the hash once and shares it.
func withOper(hash string) serverOption {
	return withConfig(func(cfg *config.Config) {
		cfg.Opers = []config.Oper{{Name: "admin", PasswordHash: hash}}
	})
}

func operHash(t *testing.T) string {
	t.Helper()
	hash, err := crypto.HashPasswordWith([]byte(operPassword), cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	return hash
}

// operUp registers nick and makes it an IRC operator.
func operUp(ts *testServer, nick string) *testClient {
	c := ts.register(nick)
	c.Send("OPER admin :%s", operPassword)
	c.Expect(` 381 ` + nick + ` :You are now an IRC operator`)
	c.Expect(`MODE ` + nick + ` :?\+o$`)
	return c
}

func TestOperCommands(t *testing.T) {
	t.Parallel()
	hash := operHash(t)
	t.Run("oper", func(t *testing.T) {
		t.Parallel()
		testOper(t, hash)
	})
	t.Run("override", func(t *testing.T) {
		t.Parallel()
		testOperOverride(t, hash)
	})
	t.Run("kill", func(t *testing.T) {
		t.Parallel()
		testKill(t, hash)
	})
	t.Run("rehash", func(t *testing.T) {
		t.Parallel()
		testRehash(t, hash)
	})
}

func testOper(t *testing.T, hash string) {
	ts := newTestServer(t, withOper(hash))
	cases := []struct{ name, line, want string }{
		{"no such oper", "OPER root " + operPassword, ` 491 eve :`},
		{"wrong password", "OPER admin wrong", ` 464 eve :Password incorrect`},
		{"too few params", "OPER admin", ` 461 eve OPER `},
	}
	eve := ts.register("eve")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eve.Send("%s", tc.line)
			eve.Expect(tc.want)
		})
	}
	eve.Send("KILL eve :no")
	eve.Expect(` 481 eve :`)
	eve.Send("MODE eve")
	eve.Expect(` 221 eve :?\+$`)

	root := operUp(ts, "root")
	root.Send("MODE root")
	root.Expect(` 221 root :?\+o$`)
	eve.Send("WHOIS root")
	eve.Expect(` 313 eve root :is an IRC operator`)
	eve.Send("LUSERS")
	eve.Expect(` 252 eve 1 :operator`)
	root.Send("MODE root -o")
	root.Expect(`MODE root :?-o$`)
	eve.Send("LUSERS")
	eve.Expect(` 252 eve 0 :operator`)
	root.Send("KILL eve :no")
	root.Expect(` 481 root :`)
}

func TestOperAttemptsArePaced(t *testing.T) {
	t.Parallel()
	c := &Client{}
	start := time.Now()
	c.paceOper(start)
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("the first attempt should not wait")
	}
	// An attempt 1.8 s after the last waits out the remaining 200 ms.
	before := time.Now()
	c.paceOper(start.Add(operPace - 200*time.Millisecond))
	if d := time.Since(before); d < 150*time.Millisecond {
		t.Fatalf("second attempt waited %v, want about 200ms", d)
	}
	if !c.operTried.Equal(start.Add(operPace)) {
		t.Fatalf("operTried = %v, want the end of the wait", c.operTried)
	}
}

func testOperOverride(t *testing.T, hash string) {
	ts := newTestServer(t, withOper(hash))
	alice := ts.register("alice")
	bob := ts.register("bob")
	alice.Join("#c")
	bob.Join("#c")
	bob.Send("MODE #c +m")
	bob.Expect(` 482 bob #c `)
	root := operUp(ts, "root")
	root.Send("MODE #c +mv bob")
	want := `^:root!\S+ MODE #c \+mv :?bob$`
	root.Expect(want) // the overriding operator sees it though not a member
	alice.Expect(want)
	bob.Expect(want)
	root.Send("TOPIC #c :set from outside")
	alice.Expect(`TOPIC #c :set from outside`)
}

func testKill(t *testing.T, hash string) {
	ts := newTestServer(t, withOper(hash))
	bob := ts.register("bob")
	carol := ts.register("carol")
	bob.Join("#c")
	carol.Join("#c")
	root := operUp(ts, "root")
	root.Send("KILL ghost :bye")
	root.Expect(` 401 root ghost `)
	root.Send("KILL bob :spamming")
	lines := strings.Join(bob.ExpectClosed(), "\n")
	if !strings.Contains(lines, "ERROR :Closing link: (~bob@127.0.0.1) [Killed (root (spamming))]") {
		t.Fatalf("bob should be told why, got:\n%s", lines)
	}
	carol.Expect(`^:bob!\S+ QUIT :Killed \(root \(spamming\)\)$`)
	carol.Send("WHOIS bob")
	carol.Expect(` 401 carol bob `)
}

func testRehash(t *testing.T, hash string) {
	ts := newTestServer(t, withOper(hash))
	fail := make(chan error, 1)
	ts.srv.SetRehash(func() error { return <-fail })
	eve := ts.register("eve")
	eve.Send("REHASH")
	eve.Expect(` 481 eve :`)
	root := operUp(ts, "root")
	fail <- nil
	root.Send("REHASH")
	root.Expect(` 382 root \S+ :?Rehashing`)
	root.Sync()
	fail <- errors.Join(errors.New("bad listen"), errors.New("bad redis"))
	root.Send("REHASH")
	root.Expect(` 382 root `)
	root.Expect(`^:irc\.test FAIL REHASH REHASH_FAILED :Rehash failed: bad listen; bad redis$`)
}

// TestSetRehashWhileServing installs the reload function while an operator
// runs REHASH, as the daemon does after its listeners start: under -race
// this fails if the function is a plain field.
func TestSetRehashWhileServing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withOper(operHash(t)))
	root := operUp(ts, "root")
	done := make(chan struct{})
	go func() {
		defer close(done)
		ts.srv.SetRehash(func() error { return nil })
	}()
	root.Send("REHASH")
	root.Expect(` 382 root `)
	<-done
	root.Send("REHASH")
	root.Expect(` 382 root `)
}
