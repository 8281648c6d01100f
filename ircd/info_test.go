package ircd

import (
	"regexp"
	"strings"
	"testing"

	"gopkg.in/irc.v4"
)

func TestWho(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	carol := ts.register("carol")
	alice.Join("#c")
	bob.Join("#c")
	bob.Send("AWAY :lunch")
	bob.Expect(` 306 `)
	cases := []struct {
		name, line string
		want       []string // patterns, in order, ending with 315
	}{
		{"channel", "WHO #c", []string{
			` 352 carol #c ~alice 127.0.0.1 irc.test alice H@ :0 Real alice$`,
			` 352 carol #c ~bob 127.0.0.1 irc.test bob G :0 Real bob$`,
			` 315 carol #c :End of WHO list`}},
		{"nick", "WHO alice", []string{` 352 carol \* ~alice 127.0.0.1 irc.test alice H :0 Real alice$`, ` 315 carol alice `}},
		{"mask", "WHO b*", []string{` 352 carol \* ~bob \S+ \S+ bob G :0 Real bob$`, ` 315 carol b\* `}},
		{"realname mask", "WHO *al?alice", []string{` 352 carol \* ~alice `, ` 315 carol `}},
		{"nobody", "WHO zz*", []string{` 315 carol zz\* `}},
		{"whox", "WHO alice %tcuihsnfdlaor,42", []string{
			` 354 carol 42 \* ~alice 255\.255\.255\.255 127\.0\.0\.1 irc\.test alice H 0 \d+ 0 n/a :Real alice$`,
			` 315 carol alice `}},
		{"whox subset reordered", "WHO #c %nfc", []string{` 354 carol #c alice :?H@$`, ` 354 carol #c bob :?G$`, ` 315 carol #c `}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			carol.Send("%s", tc.line)
			got := collectUntil(carol, ` 315 `)
			matchInOrder(t, got, tc.want)
		})
	}
}

// collectUntil returns the lines up to and including the one matching end.
func collectUntil(c *testClient, end string) []string {
	c.T().Helper()
	m, before := c.ExpectAfter(end)
	return append(before, m.String())
}

// matchInOrder checks that each pattern matches a distinct line, in order,
// and that the final pattern matches the last line.
func matchInOrder(t *testing.T, lines, patterns []string) {
	t.Helper()
	i := 0
	for _, l := range lines {
		if i < len(patterns) && regexpMatch(patterns[i], l) {
			i++
		}
	}
	if i != len(patterns) {
		t.Fatalf("pattern %q not matched in order in:\n%s", patterns[i], strings.Join(lines, "\n"))
	}
}

func TestWhoHidesInvisible(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	carol := ts.register("carol")
	alice.Send("MODE alice +i")
	alice.Expect(`MODE alice`)
	alice.Join("#c")
	bob.Join("#c")
	lines := strings.Join(collectUntil(carol, sendLine(carol, "WHO *", ` 315 `)), "\n")
	if strings.Contains(lines, " alice ") || !strings.Contains(lines, " bob ") {
		t.Fatalf("outsider's WHO * should list bob, not invisible alice:\n%s", lines)
	}
	lines = strings.Join(collectUntil(carol, sendLine(carol, "WHO #c", ` 315 `)), "\n")
	if strings.Contains(lines, " alice H") {
		t.Fatalf("outsider's WHO #c should hide invisible alice:\n%s", lines)
	}
	lines = strings.Join(collectUntil(bob, sendLine(bob, "WHO *", ` 315 `)), "\n")
	if !strings.Contains(lines, " alice H") {
		t.Fatalf("bob shares #c with alice and should see her:\n%s", lines)
	}
	carol.Send("WHO alice")
	carol.Expect(` 352 carol \* ~alice `) // an exact nick is answered, like WHOIS
}

// sendLine sends line and returns end, for collectUntil.
func sendLine(c *testClient, line, end string) string {
	c.Send("%s", line)
	return end
}

func TestWhois(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	alice.Join("#pub")
	alice.Join("#sec")
	alice.Send("MODE #sec +s")
	alice.Expect(`MODE #sec \+s`)
	bob.Join("#pub")
	alice.Send("MODE #pub +v bob")
	alice.Send("AWAY :gone fishing")
	alice.Expect(` 306 `)
	bob.Send("WHOIS alice")
	matchInOrder(t, collectUntil(bob, ` 318 `), []string{
		` 311 bob alice ~alice 127\.0\.0\.1 \* :Real alice$`,
		` 319 bob alice :?@#pub$`,
		` 312 bob alice irc\.test :?TestNet$`,
		` 301 bob alice :gone fishing$`,
		` 671 bob alice :is using a secure connection$`,
		` 317 bob alice \d+ \d+ :seconds idle, signon time$`,
		` 318 bob alice :End of /WHOIS list$`,
	})
	alice.Send("WHOIS bob")
	alice.Expect(` 319 alice bob :?\+#pub$`)
	alice.Send("WHOIS alice")
	alice.Expect(` 319 alice alice :@#pub @#sec$`) // members see their secret channels
	bob.Send("WHOIS irc.test ghost")
	bob.Expect(` 401 bob ghost :No such nick/channel$`)
	bob.Expect(` 318 bob ghost `)
}

func TestWhowas(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	alice.Send("NICK alicia")
	alice.Expect(`NICK :?alicia`)
	alice.Send("NICK alice2")
	alice.Expect(`NICK :?alice2`)
	bob.Send("WHOWAS alice")
	matchInOrder(t, collectUntil(bob, ` 369 `), []string{
		` 314 bob alice ~alice 127\.0\.0\.1 \* :Real alice$`,
		` 312 bob alice irc\.test :`,
		` 369 bob alice :End of WHOWAS$`,
	})
	bob.Send("WHOWAS ghost")
	bob.Expect(` 406 bob ghost :There was no such nickname$`)
	bob.Expect(` 369 bob ghost `)
	alice.Send("QUIT")
	alice.ExpectClosed()
	bob.Send("WHOWAS alice2 1")
	lines := collectUntil(bob, ` 369 `)
	if n := strings.Count(strings.Join(lines, "\n"), " 314 "); n != 1 {
		t.Fatalf("count 1 should give one entry, got:\n%s", strings.Join(lines, "\n"))
	}
}

func TestWhowasRingIsBounded(t *testing.T) {
	t.Parallel()
	w := newWhowasRing(3)
	c := &Client{realname: "R"}
	for _, n := range []string{"a", "b", "a", "c", "d"} {
		w.add(&irc.Prefix{Name: n, User: "u", Host: "h"}, c)
	}
	if got := w.lookup("b", 0); len(got) != 0 {
		t.Fatalf("b should have been pushed out, got %v", got)
	}
	got := w.lookup("A", 0)
	if len(got) != 1 || got[0].nick != "a" || got[0].realname != "R" {
		t.Fatalf("lookup(A) = %+v", got)
	}
	if got := w.lookup("d", 5); len(got) != 1 {
		t.Fatalf("lookup(d) = %+v", got)
	}
}

func TestUserhostAndIson(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	bob.Send("AWAY :brb")
	bob.Expect(` 306 `)
	cases := []struct{ name, line, want string }{
		{"userhost", "USERHOST alice bob ghost", ` 302 alice :alice=\+~alice@127\.0\.0\.1 bob=-~bob@127\.0\.0\.1$`},
		{"userhost none", "USERHOST ghost", ` 302 alice :?$`},
		{"ison params", "ISON ALICE ghost bob", ` 303 alice :alice bob$`},
		{"ison trailing", "ISON :ghost Bob", ` 303 alice :?bob$`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alice.Send("%s", tc.line)
			alice.Expect(tc.want)
		})
	}
}

func TestVersionAndTime(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	alice.Send("VERSION")
	alice.Expect(` 351 alice test irc\.test :`)
	alice.Expect(` 005 alice .*CASEMAPPING=ascii`)
	alice.Send("TIME")
	alice.Expect(` 391 alice irc\.test :\S+ `)
	alice.Send("TIME other.server")
	alice.Expect(` 402 alice other\.server :No such server`)
	alice.Send("VERSION irc.test")
	alice.Expect(` 351 alice `)
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
