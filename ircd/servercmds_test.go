package ircd

import (
	"strings"
	"testing"
)

// TestUserEmptyRealname: USER with an empty realname is refused with 461
// and does not register.
func TestUserEmptyRealname(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	c.Send("PASS :%s", testPassword)
	c.Send("NICK eve")
	c.Send("USER eve 0 * :")
	c.Expect(` 461 eve USER `)
	c.Send("USER eve 0 * :Eve")
	c.Expect(` 001 eve `)
}

func TestInfo(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	alice.Send("INFO")
	alice.Expect(` 371 alice :?securechat test on irc\.test$`)
	alice.Expect(` 374 alice :End of INFO list`)
	alice.Send("INFO other.server")
	alice.Expect(` 402 alice other\.server `)
}

func TestHelp(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	alice.Send("HELP")
	alice.Expect(` 704 alice \* :Commands`)
	if _, body := alice.ExpectAfter(` 706 alice \* `); !strings.Contains(strings.Join(body, "\n"), " PRIVMSG ") {
		t.Errorf("help index does not list PRIVMSG: %q", body)
	}
	alice.Send("HELP privmsg")
	alice.Expect(` 704 alice privmsg :PRIVMSG <target>`)
	alice.Expect(` 706 alice privmsg `)
	alice.Send("HELPOP join")
	alice.Expect(` 704 alice join :JOIN `)
	alice.Expect(` 706 alice join `)
	alice.Send("HELP nosuchthing")
	alice.Expect(` 524 alice nosuchthing :No help available`)
}

func TestLinks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	alice.Send("LINKS")
	alice.Expect(` 364 alice irc\.test irc\.test :?0 `)
	alice.Expect(` 365 alice \* :End of /LINKS list`)
	alice.Send("LINKS *.other")
	if _, skipped := alice.ExpectAfter(` 365 alice \*\.other `); len(skipped) != 0 {
		t.Errorf("LINKS for a mask matching no server listed %q", skipped)
	}
}

// TestWallops: an operator's WALLOPS reaches users with +w only; others
// may not send it.
func TestWallops(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withOper(operHash(t)))
	op := operUp(ts, "op")
	wants, deaf := ts.register("wants"), ts.register("deaf")
	wants.Send("MODE wants +w")
	wants.Expect(`MODE wants :?\+w$`)
	deaf.Send("WALLOPS :not allowed")
	deaf.Expect(` 481 deaf `)
	op.Send("WALLOPS :hear ye")
	wants.Expect(`^:op!\S+ WALLOPS :?hear ye$`)
	// wants got it, so anything for deaf is queued already, before its PONG.
	for _, l := range deaf.Sync() {
		if strings.Contains(l, "WALLOPS") {
			t.Fatalf("a user without +w got %q", l)
		}
	}
}
