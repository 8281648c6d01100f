package ircd

import (
	"strings"
	"testing"
)

func TestRegisterWithSASL(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	c.send("CAP LS 302")
	ls := c.expect(`CAP \* LS`)
	if !strings.Contains(ls.Trailing(), "sasl=PLAIN") {
		t.Fatalf("CAP LS 302 should offer sasl=PLAIN, got %q", ls.Trailing())
	}
	c.send("NICK alice")
	c.send("USER alice 0 * :Alice")
	c.send("CAP REQ :sasl")
	c.expect(`CAP \S+ ACK :?sasl`)
	c.send("AUTHENTICATE PLAIN")
	c.expect(`^AUTHENTICATE \+$`)
	c.send("AUTHENTICATE %s", saslPlain("anyone", testPassword))
	c.expect(` 900 alice `)
	c.expect(` 903 alice `)
	c.send("CAP END")
	welcome := c.expect(` 001 alice `)
	if !strings.Contains(welcome.Trailing(), "TestNet") {
		t.Fatalf("welcome should name the network: %q", welcome.Trailing())
	}
	isupport := c.expect(` 005 alice `)
	if !strings.Contains(strings.Join(isupport.Params, " "), "CASEMAPPING=ascii") {
		t.Fatalf("first ISUPPORT line lacks CASEMAPPING: %v", isupport.Params)
	}
	c.expect(` 422 | 376 `)
}

func TestRegisterWithPass(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.registerPass("bob")
	c.join("#room")
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
			"AUTHENTICATE " + saslPlain("eve", "wrong"), "CAP END"}, " 904 "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t)
			c := ts.dial()
			for _, l := range tc.lines {
				c.send("%s", l)
			}
			lines := c.expectClosed()
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
	c.send("JOIN #secret")
	c.expect(` 451 `)
	c.send("PRIVMSG #secret :hi")
	c.expect(` 451 `)
	c.send("PING x")
	c.expect(`PONG`)
}

func TestNickCollision(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.register("alice")
	c := ts.dial()
	c.send("PASS :%s", testPassword)
	c.send("NICK Alice")
	c.expect(` 433 \* Alice `)
	c.send("NICK alice2")
	c.send("USER a 0 * :A")
	c.expect(` 001 alice2 `)
	c.send("NICK ALICE")
	c.expect(` 433 alice2 ALICE `)
}

func TestTwoClientsChat(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", "server-time", "message-tags", "echo-message")
	bob := ts.register("bob")
	alice.join("#chat")
	bob.join("#chat")
	alice.expect(`:bob!\S+ JOIN #chat`)
	alice.send("PRIVMSG #chat :hello bob")
	got := bob.expect(`PRIVMSG #chat`)
	if got.Trailing() != "hello bob" || got.Prefix.Name != "alice" {
		t.Fatalf("bob got %v", got)
	}
	echo := alice.expect(`PRIVMSG #chat :hello bob`)
	if echo.Tags["msgid"] == "" || echo.Tags["time"] == "" {
		t.Fatalf("echo lacks msgid/time: %v", echo.Tags)
	}
	bob.send("PRIVMSG alice :psst")
	dm := alice.expect(`PRIVMSG alice`)
	if dm.Trailing() != "psst" || dm.Prefix.Name != "bob" {
		t.Fatalf("alice got %v", dm)
	}
}
