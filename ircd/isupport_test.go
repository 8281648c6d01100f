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
