package ircd

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestConformanceReplies checks replies that IRC conformance suites
// (irctest) check and that are easy to get wrong, each from the
// modern.ircdocs.horse definition of the command: the lines before the
// sender's next PONG must match want in order, and none may match never.
func TestConformanceReplies(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	op := ts.register("op")
	user := ts.register("user")
	outsider := ts.register("outsider")
	op.Join("#t")
	op.Send("MODE #t +t") // new channels have it already; make sure
	user.Join("#t")
	op.Join("#secret")
	op.Send("MODE #secret +s")
	op.Expect(`MODE #secret \+s`)
	op.Sync()
	cases := []struct {
		name  string
		c     *testClient
		line  string
		want  []string
		never string
	}{
		// irctest accepts 409 or 461; modern.ircdocs.horse lists 461.
		{"PING without a token", user, "PING", []string{` 461 user PING :`}, ` PONG `},
		{"unknown command", user, "FROB x", []string{` 421 user FROB :`}, ""},
		{"WHOIS of nobody", user, "WHOIS nobody", []string{` 401 user nobody :`, ` 318 user nobody :`}, ""},
		{"TOPIC on +t by a non-operator", user, "TOPIC #t :mine", []string{` 482 user #t :`}, ` TOPIC #t`},
		{"KICK by a non-operator", user, "KICK #t op", []string{` 482 user #t :`}, ` KICK #t`},
		{"MODE change by a non-member", outsider, "MODE #t +m", []string{` 482 outsider #t :`}, ` MODE #t`},
		{"NAMES of a +s channel from outside", outsider, "NAMES #secret", []string{` 366 outsider #secret :`}, ` 353 `},
		{"AWAY set", user, "AWAY :out", []string{` 306 user :`}, ""},
		{"AWAY unset", user, "AWAY", []string{` 305 user :`}, ""},
		{"PART with a reason", user, "PART #t :see you later", []string{`^:user!\S+ PART #t :see you later$`}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c.WithT(t)
			c.Send("%s", tc.line)
			lines := c.Sync()
			matchInOrder(t, lines, tc.want)
			for _, l := range lines {
				if tc.never != "" && regexp.MustCompile(tc.never).MatchString(l) {
					t.Fatalf("%q drew %q", tc.line, l)
				}
			}
		})
	}
}

// TestCapEndWaitsForNickAndUser: CAP END before NICK and USER ends
// negotiation but does not register; registration completes once both
// arrive.
func TestCapEndWaitsForNickAndUser(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	c.Send("CAP LS 302")
	c.Expect(`CAP \* LS`)
	c.Send("CAP END")
	c.Send("PASS :%s", testPassword)
	c.Quiet(` 001 `, 200*time.Millisecond)
	c.Send("NICK late")
	c.Send("USER late 0 * :Late")
	c.Expect(` 001 late `)
}

// TestCapLSLines: a CAP LS 302 reply too long for one line is split, every
// line but the last marked with "*", as IRCv3 capability negotiation
// requires; older clients get the whole list on one line.
func TestCapLSLines(t *testing.T) {
	t.Parallel()
	var caps []string
	for i := range 60 {
		caps = append(caps, strings.Repeat("x", 10)+"/capability-"+string(rune('a'+i%26)))
	}
	list := strings.Join(caps, " ")
	lines := capLSLines(list, 302)
	if len(lines) < 2 {
		t.Fatalf("a %d-byte list in %d line(s), want it split", len(list), len(lines))
	}
	for i, l := range lines {
		if len(l) > capLSLineMax || l == "" || strings.HasPrefix(l, " ") || strings.HasSuffix(l, " ") {
			t.Errorf("line %d is %d bytes (max %d) or has stray spaces: %q", i, len(l), capLSLineMax, l)
		}
	}
	if got := strings.Join(lines, " "); got != list {
		t.Fatalf("lines rejoined = %q, want the list", got)
	}
	if got := capLSLines(list, 0); len(got) != 1 || got[0] != list {
		t.Fatalf("pre-302 reply = %q, want one line", got)
	}

	ts := newTestServer(t)
	c := ts.dial()
	c.Send("CAP LS 302")
	m := c.Expect(`CAP \* LS`)
	if m.Params[2] == "*" || !strings.Contains(m.Trailing(), "sasl=PLAIN") {
		t.Fatalf("short CAP LS 302 reply %v, want one final line", m)
	}
}

// TestRefusedLineIsLabeled: the FAIL refusing a line with invalid UTF-8
// or a NUL is that command's response, so it carries the command's label
// (labeled-response; irctest's utf8 tests check it).
func TestRefusedLineIsLabeled(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.register("lab", "batch", "echo-message", "labeled-response")
	c.Join("#q")
	c.SendRaw("@label=xyz PRIVMSG #q hi\xaa\r\n")
	m := c.Expect(` FAIL PRIVMSG INVALID_UTF8 `)
	if m.Tags["label"] != "xyz" {
		t.Fatalf("FAIL for invalid UTF-8 = %v, want label xyz", m)
	}
	c.SendRaw("@label=abc PRIVMSG #q :hi\x00there\r\n")
	m = c.Expect(` FAIL PRIVMSG INVALID_PARAMS `)
	if m.Tags["label"] != "abc" {
		t.Fatalf("FAIL for a NUL = %v, want label abc", m)
	}
}
