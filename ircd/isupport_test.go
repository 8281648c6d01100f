package ircd

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"securechat/config"
)

// TestIsupportLimits backs each length and count limit ISUPPORT advertises
// with what the server does at the limit and one past it, as the
// modern.ircdocs.horse definitions of the tokens describe.
func TestIsupportLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	op := ts.register("op")
	op.Join("#lim")
	victim := ts.register("victim")
	victim.Join("#lim")
	op.Expect(`:victim!\S+ JOIN #lim`)

	t.Run("NICKLEN", func(t *testing.T) {
		c := ts.register("nicklen").WithT(t)
		c.Send("NICK %s", strings.Repeat("n", nickLen))
		c.Expect(`^:nicklen!\S+ NICK :?` + strings.Repeat("n", nickLen) + `$`)
		c.Send("NICK %s", strings.Repeat("m", nickLen+1))
		c.Expect(` 432 ` + strings.Repeat("n", nickLen) + ` m+ :`)
	})
	t.Run("CHANNELLEN", func(t *testing.T) {
		c := ts.register("chanlen").WithT(t)
		longest := "#" + strings.Repeat("a", channelLen-1)
		c.Join(longest)
		c.Send("JOIN #%s", strings.Repeat("b", channelLen))
		c.Expect(` 403 chanlen #b+ :`)
	})
	t.Run("CHANTYPES", func(t *testing.T) {
		c := ts.register("chantypes").WithT(t)
		c.Send("JOIN &local")
		c.Expect(` 403 chantypes &local :`)
	})
	t.Run("CHANLIMIT", func(t *testing.T) {
		c := ts.register("chanlimit").WithT(t)
		for from := 0; from < maxChannels; from += 50 {
			var names []string
			for i := from; i < min(from+50, maxChannels); i++ {
				names = append(names, fmt.Sprintf("#c%d", i))
			}
			c.Send("JOIN %s", strings.Join(names, ","))
		}
		c.Expect(fmt.Sprintf(` 366 chanlimit #c%d `, maxChannels-1))
		c.Send("JOIN #onemore")
		m, skipped := c.ExpectAfter(` (405|JOIN) `)
		if m.Command != "405" || m.Params[1] != "#onemore" {
			t.Fatalf("JOIN past CHANLIMIT got %v (after %q), want 405 chanlimit #onemore", m, skipped)
		}
	})
	t.Run("TOPICLEN", func(t *testing.T) {
		op := op.WithT(t)
		op.Send("TOPIC #lim :%s", strings.Repeat("t", topicLen+10))
		m := op.Expect(` TOPIC #lim `)
		if got := m.Trailing(); got != strings.Repeat("t", topicLen) {
			t.Fatalf("topic of %d bytes kept as %d bytes, want %d", topicLen+10, len(got), topicLen)
		}
	})
	t.Run("KICKLEN", func(t *testing.T) {
		op := op.WithT(t)
		op.Send("KICK #lim victim :%s", strings.Repeat("k", kickLen+10))
		m := op.Expect(` KICK #lim victim `)
		if got := m.Trailing(); got != strings.Repeat("k", kickLen) {
			t.Fatalf("kick reason of %d bytes sent as %d bytes, want %d", kickLen+10, len(got), kickLen)
		}
	})
	t.Run("AWAYLEN", func(t *testing.T) {
		c := ts.register("awaylen").WithT(t)
		c.Send("AWAY :%s", strings.Repeat("a", awayLen+10))
		c.Expect(` 306 awaylen `)
		c.Send("WHOIS awaylen")
		m := c.Expect(` 301 awaylen awaylen `)
		if got := m.Trailing(); got != strings.Repeat("a", awayLen) {
			t.Fatalf("away message of %d bytes kept as %d bytes, want %d", awayLen+10, len(got), awayLen)
		}
	})
	t.Run("USERLEN", func(t *testing.T) {
		// The tilde of an unverified username counts towards USERLEN.
		c := ts.dial().WithT(t)
		c.Send("PASS :%s", testPassword)
		c.Send("NICK userlen")
		c.Send("USER %s 0 * :Long user", strings.Repeat("u", userLen+10))
		c.Expect(` 001 userlen `)
		c.Send("WHOIS userlen")
		m := c.Expect(` 311 userlen userlen `)
		if user := m.Params[2]; len(user) != userLen || user != "~"+strings.Repeat("u", userLen-1) {
			t.Fatalf("username %q (%d bytes), want ~ and %d u's: USERLEN=%d", user, len(user), userLen-1, userLen)
		}
	})
	t.Run("HOSTLEN", func(t *testing.T) {
		c := ts.register("hostlen").WithT(t)
		c.Send("WHOIS hostlen")
		m := c.Expect(` 311 hostlen hostlen `)
		if host := m.Params[3]; host == "" || len(host) > 64 {
			t.Fatalf("host %q is not within HOSTLEN=64", host)
		}
	})
}

// TestIsupportCasemapping backs CASEMAPPING=ascii: A-Z fold to a-z, and
// nothing else folds ("[" and "{" are different, unlike rfc1459).
func TestIsupportCasemapping(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a := ts.register("a[b")
	b := ts.register("a{b")
	b.Send("PRIVMSG A[B :folded")
	a.Expect(`:a\{b!\S+ PRIVMSG a\[b :?folded$`)
	a.Join("#MiXeD")
	b.Send("JOIN #mixed")
	a.Expect(`:a\{b!\S+ JOIN #MiXeD`)
	b.Send("NICK A[B")
	b.Expect(` 433 a\{b A\[B `)
}

// TestIsupportNetwork: NETWORK names the network the operator configured.
func TestIsupportNetwork(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) { cfg.Network = "Elsewhere" }))
	c := ts.register("net")
	c.Send("VERSION")
	m := c.Expect(` 005 net .*NETWORK=`)
	if !regexp.MustCompile(`(^| )NETWORK=Elsewhere( |$)`).MatchString(strings.Join(m.Params, " ")) {
		t.Fatalf("005 %v, want NETWORK=Elsewhere", m.Params)
	}
}

// TestTargmaxLimits backs the TARGMAX entries not covered elsewhere
// (TestKickLists has KICK, TestJoinSeveralAndJoinZero JOIN, TestBadInput
// PRIVMSG): NOTICE and TAGMSG take 4 targets and refuse 5, WHOIS
// answers for one, and NAMES, LIST and PART take any number.
func TestTargmaxLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", "message-tags")
	bob := ts.register("bob", "message-tags")
	alice.Join("#a")
	alice.Join("#b")
	bob.Join("#a")
	alice.Expect(`:bob!\S+ JOIN #a`)
	four, five := "#a,b1,b2,b3", "#a,b1,b2,b3,b4"

	alice.Send("NOTICE %s :five", five)
	alice.Send("@+typing=active TAGMSG %s", five)
	alice.Expect(` 407 alice ` + five + ` :`)
	alice.Send("NOTICE %s :four", four)
	alice.Send("@+typing=paused TAGMSG %s", four)
	m, skipped := bob.ExpectAfter(` NOTICE #a `)
	if m.Trailing() != "four" || len(skipped) != 0 {
		t.Fatalf("bob got %v after %q, want only the NOTICE to four targets", m, skipped)
	}
	if m = bob.Expect(` TAGMSG #a`); m.Tags["+typing"] != "paused" {
		t.Fatalf("bob got TAGMSG %v, want only the one to four targets", m)
	}

	alice.Send("WHOIS bob,alice")
	lines := collectUntil(alice, ` 318 `)
	matchInOrder(t, lines, []string{` 311 alice bob `, ` 318 alice bob `})
	for _, l := range lines {
		if strings.Contains(l, " 311 alice alice ") {
			t.Fatalf("WHOIS (TARGMAX WHOIS:1) answered for a second target: %q", l)
		}
	}

	alice.Send("NAMES #a,#b")
	matchInOrder(t, collectUntil(alice, ` 366 alice #b `), []string{` 353 alice = #a `, ` 366 alice #a `, ` 353 alice = #b `, ` 366 alice #b `})
	alice.Send("LIST #a,#b")
	list := strings.Join(collectUntil(alice, ` 323 `), "\n")
	if !strings.Contains(list, " 322 alice #a 2 ") || !strings.Contains(list, " 322 alice #b 1 ") {
		t.Fatalf("LIST #a,#b =\n%s\nwant a 322 for each", list)
	}
	alice.Send("PART #a,#b :bye")
	alice.Expect(`:alice!\S+ PART #a :?bye$`)
	alice.Expect(`:alice!\S+ PART #b :?bye$`)
}
