package ircd

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// nickServSays is the start of a pattern for a NOTICE from NickServ to
// nick.
func nickServSays(nick string) string {
	return `^:NickServ!NickServ@irc\.test NOTICE ` + nick + ` :`
}

// TestNickServRegisterIdentifyLogout runs a client without
// draft/account-registration through NickServ: REGISTER, LOGOUT (901,
// ACCOUNT *, and the grace warning for the nick it now holds without its
// account), IDENTIFY wrong and right, by PRIVMSG and the NS and NICKSERV
// commands.
func TestNickServRegisterIdentifyLogout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withNickGrace(time.Hour))
	watcher := ts.register("watcher", "account-notify")
	watcher.Join("#a")
	yak := ts.registerPass("yak")
	yak.Join("#a")
	says := nickServSays("yak")

	for _, step := range []struct{ send, want string }{
		{"NS REGISTER", says + `Syntax: REGISTER <password>$`},
		{"PRIVMSG NickServ :REGISTER short", says + `Passwords need at least 8 characters\.$`},
		{"PRIVMSG NickServ :REGISTER yakpassword", says + `Account yak registered; you are now logged in\.$`},
		{"", ` 900 yak yak!~yak@127\.0\.0\.1 yak :You are now logged in as yak$`},
		{"NS REGISTER yakpassword", says + `You are already logged in as yak; LOGOUT first\.$`},
		{"NS LOGOUT", ` 901 yak yak!~yak@127\.0\.0\.1 :You are now logged out$`},
		{"", says + `The nick yak is registered to an account\. Log in to it within 1h0m0s `},
		{"NS LOGOUT", says + `You are not logged in\.$`},
		{"NICKSERV IDENTIFY wrongpassword", says + `Invalid account or password\.$`},
		{"NICKSERV IDENTIFY yakpassword", says + `You are now logged in as yak\.$`},
		{"", ` 900 yak yak!~yak@127\.0\.0\.1 yak :You are now logged in as yak$`},
		{"PRIVMSG NickServ :IDENTIFY yakpassword", says + `You are already logged in as yak; LOGOUT first\.$`},
	} {
		if step.send != "" {
			yak.Send("%s", step.send)
		}
		yak.Expect(step.want)
	}
	watcher.Expect(`^:yak!~yak@127\.0\.0\.1 ACCOUNT :?yak$`)
	watcher.Expect(`^:yak!~yak@127\.0\.0\.1 ACCOUNT :?\*$`)
	watcher.Expect(`^:yak!~yak@127\.0\.0\.1 ACCOUNT :?yak$`)
	if _, g := ts.graceOf("yak"); g != nil {
		t.Fatal("a grace period still runs after IDENTIFY")
	}
}

// TestNickServGroupInfo groups a second nick to an account, which then
// belongs to it like its name; INFO shows the nicks to the holder only;
// UNGROUP gives the nick back but never the account's name.
func TestNickServGroupInfo(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	yak := ts.registerAccount("yak", personalPassword)
	other := ts.registerPass("other")
	says := nickServSays("yakky")
	yak.Send("NS GROUP")
	yak.Expect(nickServSays("yak") + `The nick yak already belongs to your account\.$`)
	yak.Send("NICK yakky")
	yak.Nick = "yakky"
	for _, step := range []struct{ send, want string }{
		{"PRIVMSG NickServ :GROUP", says + `The nick yakky now belongs to your account yak\.$`},
		{"PRIVMSG NickServ :INFO", says + `Account yak, registered \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.$`},
		{"", says + `Nicks: yak yakky$`},
	} {
		if step.send != "" {
			yak.Send("%s", step.send)
		}
		yak.Expect(step.want)
	}
	yak.Send("NICK yak") // the account's clients move between its nicks freely
	yak.Expect(`^:yakky!\S+ NICK :?yak$`)
	yak.Nick = "yak"

	other.Send("NICK yakky")
	other.Expect(` 433 other yakky :Nickname is reserved by a different account`)
	other.Send("PRIVMSG NickServ :INFO yakky")
	other.Expect(nickServSays("other") + `Account yak, registered `)
	for _, l := range other.Sync() {
		if strings.Contains(l, "Nicks:") {
			t.Fatalf("INFO shows another account's nicks: %q", l)
		}
	}
	other.Send("PRIVMSG NickServ :GROUP")
	other.Expect(nickServSays("other") + `Log in first: GROUP adds your current nick to your account\.$`)

	says = nickServSays("yak")
	for _, step := range []struct{ send, want string }{
		{"NS UNGROUP yak", says + `Your account's name stays yours; it cannot be ungrouped\.$`},
		{"NS UNGROUP nope", says + `The nick nope is not grouped to your account\.$`},
		{"NS UNGROUP yakky", says + `The nick yakky no longer belongs to your account\.$`},
	} {
		yak.Send("%s", step.send)
		yak.Expect(step.want)
	}
	other.Send("NICK yakky")
	other.Expect(`^:other!\S+ NICK :?yakky$`)
}

// TestNickServHelpUnknownWhois checks HELP, an unknown command, NOTICEs
// to NickServ (never answered), WHOIS NickServ, and that NICKSERV needs a
// command.
func TestNickServHelpUnknownWhois(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	c := ts.registerPass("alice")
	says := nickServSays("alice")
	c.Send("PRIVMSG NickServ :help")
	for _, cmd := range []string{"REGISTER", "IDENTIFY", "LOGOUT", "GROUP", "UNGROUP", "INFO", "HELP"} {
		c.Expect(says + cmd + `\b`)
	}
	c.Send("NOTICE NickServ :HELP")
	for _, l := range c.Sync() {
		if strings.Contains(l, "NickServ") {
			t.Fatalf("NickServ answered a NOTICE: %q", l)
		}
	}
	c.Send("PRIVMSG NickServ :FROBNICATE now")
	c.Expect(says + `Unknown command FROBNICATE\. /msg NickServ HELP lists the commands\.$`)
	c.Send("NS")
	c.Expect(` 461 alice NS :Not enough parameters$`)
	c.Send("WHOIS nickserv")
	c.Expect(` 311 alice NickServ NickServ irc\.test \* :Account services$`)
	c.Expect(` 313 alice NickServ :is a network service$`)
	c.Expect(` 318 alice nickserv :End of /WHOIS list$`)

	off := newTestServer(t).registerPass("bob") // accounts off: no NickServ
	off.Send("PRIVMSG NickServ :HELP")
	off.Expect(` 401 bob NickServ :No such nick/channel$`)
	off.Send("NS HELP")
	off.Expect(` 421 bob NS :Unknown command$`)
}

// TestNickServNotStored checks that what is sent to NickServ, passwords
// included, never enters history: CHATHISTORY TARGETS lists the
// conversation with a person and not the one with NickServ.
func TestNickServNotStored(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	bob := ts.register("bob")
	yak := ts.register("yak", fullCaps...)
	yak.Send("PRIVMSG NickServ :REGISTER yakpassword")
	yak.Expect(` 900 yak `)
	yak.say("bob", "hello bob")
	bob.Expect(`PRIVMSG bob :hello bob$`)
	yak.Send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10")
	if got := targetNames(yak); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("TARGETS = %q, want only bob", got)
	}
}
