package ircd

import (
	"regexp"
	"strings"
	"testing"
)

// TestBotMode follows the IRCv3 bot-mode spec: BOT=B in ISUPPORT, +B
// settable by the user, the bot tag for message-tags clients only, the B
// WHO flag and WHOIS 335.
func TestBotMode(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	botc := ts.dial()
	burst := botc.RegisterSASL("robo", testPassword)
	if !regexp.MustCompile(` 005 robo .*\bBOT=B\b`).MatchString(strings.Join(burst, "\n")) {
		t.Fatalf("ISUPPORT lacks BOT=B:\n%s", strings.Join(burst, "\n"))
	}
	if !regexp.MustCompile(` 004 robo \S+ \S+ \S*B`).MatchString(strings.Join(burst, "\n")) {
		t.Fatalf("RPL_MYINFO does not list user mode B:\n%s", strings.Join(burst, "\n"))
	}
	tagged := ts.register("tagged", "message-tags")
	plain := ts.register("plain")
	for _, c := range []*testClient{botc, tagged, plain} {
		c.Join("#b")
	}

	botc.Send("PRIVMSG #b :before")
	tagged.Expect(`^@msgid=\S+ :robo!\S+ PRIVMSG #b :?before$`) // no bot tag yet

	botc.Send("MODE robo +B")
	botc.Expect(`:robo!\S+ MODE robo :?\+B$`)
	botc.Send("MODE robo")
	botc.Expect(` 221 robo :?\+B$`)

	botc.Send("PRIVMSG #b :beep")
	tagged.Expect(`^@msgid=\S+;bot :robo!\S+ PRIVMSG #b :?beep$`)
	plain.Expect(`^:robo!\S+ PRIVMSG #b :?beep$`)
	botc.Send("PRIVMSG tagged :boop")
	tagged.Expect(`^@msgid=\S+;bot :robo!\S+ PRIVMSG tagged :?boop$`)

	plain.Send("WHO #b")
	plain.Expect(` 352 plain #b ~robo \S+ \S+ robo H@B :0 Real robo$`)
	plain.Send("WHO robo %nf")
	plain.Expect(` 354 plain robo :?HB$`)
	plain.Send("WHOIS robo")
	matchInOrder(t, collectUntil(plain, ` 318 `), []string{` 311 plain robo `, ` 335 plain robo :`, ` 318 plain robo `})

	botc.Send("MODE robo -B")
	botc.Expect(`:robo!\S+ MODE robo :?-B$`)
	botc.Send("PRIVMSG #b :human again")
	tagged.Expect(`^@msgid=\S+ :robo!\S+ PRIVMSG #b :human again$`)
	plain.Send("WHO robo")
	plain.Expect(` 352 plain \* ~robo \S+ \S+ robo H :0 Real robo$`)
}
