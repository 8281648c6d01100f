package ircd

import (
	"strings"
	"testing"

	"securechat/ircd/irctest"
)

func TestRegisterWithSASL(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	c.Send("CAP LS 302")
	ls := c.Expect(`CAP \* LS`)
	if !strings.Contains(ls.Trailing(), "sasl=PLAIN") {
		t.Fatalf("CAP LS 302 should offer sasl=PLAIN, got %q", ls.Trailing())
	}
	c.Send("NICK alice")
	c.Send("USER alice 0 * :Alice")
	c.Send("CAP REQ :sasl")
	c.Expect(`CAP \S+ ACK :?sasl`)
	c.Send("AUTHENTICATE PLAIN")
	c.Expect(`^AUTHENTICATE \+$`)
	c.Send("AUTHENTICATE %s", irctest.SASLPlain("anyone", testPassword))
	if _, skipped := c.ExpectAfter(` 903 alice `); len(skipped) > 0 {
		t.Fatalf("SASL success with the room password sets no account, yet got %q", skipped)
	}
	c.Send("CAP END")
	welcome := c.Expect(` 001 alice `)
	if !strings.Contains(welcome.Trailing(), "TestNet") {
		t.Fatalf("welcome should name the network: %q", welcome.Trailing())
	}
	isupport := c.Expect(` 005 alice `)
	if !strings.Contains(strings.Join(isupport.Params, " "), "CASEMAPPING=ascii") {
		t.Fatalf("first ISUPPORT line lacks CASEMAPPING: %v", isupport.Params)
	}
	c.Expect(` 422 | 376 `)
}

func TestRegisterWithPass(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.registerPass("bob")
	c.Join("#room")
}

func TestWrongPasswordNeverWelcomes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		lines []string
		want  string
	}{
		{"pass", []string{"PASS :wrong", "NICK eve", "USER eve 0 * :Eve"}, " 464 "},
		{"no password", []string{"NICK eve", "USER eve 0 * :Eve"}, " 464 "},
		{"sasl then end", []string{"CAP REQ :sasl", "NICK eve", "USER eve 0 * :Eve", "AUTHENTICATE PLAIN",
			"AUTHENTICATE " + irctest.SASLPlain("eve", "wrong"), "CAP END"}, " 904 "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t)
			c := ts.dial()
			for _, l := range tc.lines {
				c.Send("%s", l)
			}
			lines := c.ExpectClosed()
			all := strings.Join(lines, "\n")
			if !strings.Contains(all, tc.want) || !strings.Contains(all, "ERROR ") {
				t.Fatalf("want %q and ERROR, got:\n%s", tc.want, all)
			}
			if strings.Contains(all, " 001 ") || strings.Contains(all, "JOIN") {
				t.Fatalf("unauthenticated client was welcomed:\n%s", all)
			}
		})
	}
}

func TestCommandsBeforeAuthAreRefused(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	c.Send("JOIN #secret")
	c.Expect(` 451 `)
	c.Send("PRIVMSG #secret :hi")
	c.Expect(` 451 `)
	c.Send("PING x")
	c.Expect(`PONG`)
}

func TestNickCollision(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.register("alice")
	c := ts.dial()
	c.Send("PASS :%s", testPassword)
	c.Send("NICK Alice")
	c.Expect(` 433 \* Alice `)
	c.Send("NICK alice2")
	c.Send("USER a 0 * :A")
	c.Expect(` 001 alice2 `)
	c.Send("NICK ALICE")
	c.Expect(` 433 alice2 ALICE `)
}

func TestTwoClientsChat(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", "server-time", "message-tags", "echo-message")
	bob := ts.register("bob")
	alice.Join("#chat")
	bob.Join("#chat")
	alice.Expect(`:bob!\S+ JOIN #chat`)
	alice.Send("PRIVMSG #chat :hello bob")
	got := bob.Expect(`PRIVMSG #chat`)
	if got.Trailing() != "hello bob" || got.Prefix.Name != "alice" {
		t.Fatalf("bob got %v", got)
	}
	echo := alice.Expect(`PRIVMSG #chat :hello bob`)
	if echo.Tags["msgid"] == "" || echo.Tags["time"] == "" {
		t.Fatalf("echo lacks msgid/time: %v", echo.Tags)
	}
	bob.Send("PRIVMSG alice :psst")
	dm := alice.Expect(`PRIVMSG alice`)
	if dm.Trailing() != "psst" || dm.Prefix.Name != "bob" {
		t.Fatalf("alice got %v", dm)
	}
}
