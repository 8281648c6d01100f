package ircd

import (
	"strings"
	"testing"
	"time"
)

// TestCapsAdvertised checks CAP LS offers exactly what the server
// implements, each of which is tested below or elsewhere.
func TestCapsAdvertised(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	c.Send("CAP LS 302")
	ls := strings.Fields(c.Expect(`CAP \* LS`).Trailing())
	want := []string{"sasl=PLAIN", "server-time", "message-tags", "echo-message", "batch", "labeled-response",
		"multi-prefix", "userhost-in-names", "away-notify", "extended-join", "cap-notify", "setname",
		"invite-notify", "standard-replies", "draft/chathistory", "extended-monitor",
		"draft/channel-rename", "draft/metadata-2=" + metadataCapValue,
		"draft/multiline=max-bytes=4096,max-lines=32", "draft/message-redaction"}
	if strings.Join(ls, " ") != strings.Join(want, " ") {
		t.Fatalf("CAP LS = %v, want %v", ls, want)
	}
}

func TestLabeledResponse(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.register("alice", "labeled-response", "batch", "message-tags", "echo-message")
	c.Join("#l")
	cases := []struct {
		name, line, want string
	}{
		{"one reply is tagged", "@label=one PING x", `^@label=one :irc\.test PONG irc\.test :?x$`},
		{"no reply is ACK", "@label=none PONG x", `^@label=none :irc\.test ACK$`},
		{"several replies are batched", "@label=many NAMES #l", `^@label=many :irc\.test BATCH \+\S+ labeled-response$`},
		{"echo carries the label", "@label=echo PRIVMSG #l :hi", `^@.*label=echo.* PRIVMSG #l :?hi$`},
	}
	for _, tc := range cases {
		c.Send("%s", tc.line)
		c.Expect(tc.want)
	}
	// The batch opened for NAMES holds 353 and 366 and is closed.
	c.Send("@label=again NAMES #l")
	open := c.Expect(`BATCH \+`)
	ref := strings.TrimPrefix(open.Params[0], "+")
	c.Expect(`^@batch=` + ref + ` :irc\.test 353 `)
	c.Expect(`^@batch=` + ref + ` :irc\.test 366 `)
	c.Expect(`BATCH -` + ref + `$`)
}

func TestNamesPrefixCaps(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	op := ts.register("op")
	op.Join("#n")
	op.Send("MODE #n +v op")
	op.Expect(`MODE #n \+v op`)
	cases := []struct {
		name string
		caps []string
		want string
	}{
		{"highest prefix only", nil, ` 353 plain = #n :?@op$`},
		{"multi-prefix", []string{"multi-prefix"}, ` 353 multi = #n :?@\+op$`},
		{"userhost-in-names", []string{"userhost-in-names"}, ` 353 uhost = #n :?@op!~op@127\.0\.0\.1`},
	}
	for _, tc := range cases {
		nick := map[string]string{"highest prefix only": "plain", "multi-prefix": "multi", "userhost-in-names": "uhost"}[tc.name]
		c := ts.register(nick, tc.caps...)
		c.Send("NAMES #n")
		c.Expect(tc.want)
	}
}

func TestAwayAndAwayNotify(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	notified := ts.register("watcher", "away-notify")
	plain := ts.register("plain")
	bob := ts.register("bob")
	for _, c := range []*testClient{notified, plain, bob} {
		c.Join("#a")
	}
	bob.Send("AWAY :gone fishing")
	bob.Expect(` 306 bob :You have been marked as being away`)
	notified.Expect(`:bob!\S+ AWAY :gone fishing`)
	plain.Send("PRIVMSG bob :are you there")
	plain.Expect(` 301 plain bob :gone fishing`)
	plain.Quiet(` AWAY `, 100*time.Millisecond)
	bob.Send("AWAY")
	bob.Expect(` 305 bob :You are no longer marked as being away`)
	notified.Expect(`:bob!\S+ AWAY$`)
}

func TestExtendedJoin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ext := ts.register("ext", "extended-join")
	plain := ts.register("plain")
	ext.Join("#x")
	plain.Join("#x")
	ts.register("newbie").Join("#x")
	ext.Expect(`:newbie!\S+ JOIN #x \* :Real newbie$`) // logged in to no account
	plain.Expect(`:newbie!\S+ JOIN #x$`)
}

func TestSetname(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", "setname")
	withCap := ts.register("withcap", "setname")
	without := ts.register("without")
	for _, c := range []*testClient{alice, withCap, without} {
		c.Join("#s")
	}
	alice.Send("SETNAME :Alice Liddell")
	alice.Expect(`:alice!\S+ SETNAME :Alice Liddell`)
	withCap.Expect(`:alice!\S+ SETNAME :Alice Liddell`)
	without.Quiet(`SETNAME`, 100*time.Millisecond)
	without.Send("WHOIS alice")
	without.Expect(` 311 without alice ~alice \S+ \* :Alice Liddell`)
	alice.Send("SETNAME :%s", strings.Repeat("x", realnameLen+1))
	alice.Expect(`FAIL SETNAME INVALID_REALNAME`)
}

func TestInviteNotify(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	op := ts.register("op")
	op.Join("#i")
	op.Send("MODE #i +i")
	op.Expect(`MODE #i \+i`)
	co := ts.register("coop", "invite-notify")
	op.Send("INVITE coop #i")
	op.Expect(` 341 op coop #i`)
	co.Expect(`:op!\S+ INVITE coop #i`)
	co.Join("#i")
	op.Send("MODE #i +o coop")
	op.Expect(`MODE #i \+o coop`)
	guest := ts.register("guest")
	op.Send("INVITE guest #i")
	guest.Expect(`:op!\S+ INVITE guest #i`)
	co.Expect(`:op!\S+ INVITE guest #i`)
}

func TestCapNotifyImpliedBy302(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	c.Send("CAP LS 302")
	c.Expect(`CAP \* LS`)
	c.Send("CAP LIST")
	if got := c.Expect(`CAP \S+ LIST`).Trailing(); !strings.Contains(got, "cap-notify") {
		t.Fatalf("CAP LIST after LS 302 = %q, want cap-notify", got)
	}
}
