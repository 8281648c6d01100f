package ircd

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"securechat/config"
)

func TestTopic(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	alice.Join("#t")
	bob.Join("#t")
	alice.Send("TOPIC #t")
	alice.Expect(` 331 alice #t :No topic is set`)
	alice.Send("TOPIC #t :new plans")
	bob.Expect(`:alice!\S+ TOPIC #t :new plans`)
	bob.Send("TOPIC #t")
	bob.Expect(` 332 bob #t :new plans`)
	bob.Expect(` 333 bob #t alice!~alice@127\.0\.0\.1 \d+`)
	late := ts.register("late")
	late.Send("JOIN #t")
	late.Expect(` 332 late #t :new plans`)
}

func TestJoinSeveralAndJoinZero(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.register("alice")
	c.Send("JOIN #a,#b,#c")
	for _, ch := range []string{"#a", "#b", "#c"} {
		c.Expect(` 366 alice ` + ch + ` `)
	}
	c.Send("JOIN 0")
	for range 3 {
		c.Expect(`:alice!\S+ PART #[abc]`)
	}
	c.Send("PRIVMSG #a :still here?")
	c.Expect(` 40[34] alice #a `)
}

func TestPartAndKick(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	op := ts.register("op")
	bob := ts.register("bob")
	op.Join("#k")
	bob.Join("#k")
	op.Send("KICK #k bob :behave")
	bob.Expect(`:op!\S+ KICK #k bob :?behave`)
	op.Expect(`:op!\S+ KICK #k bob :?behave`)
	bob.Send("PRIVMSG #k :hello?")
	bob.Expect(` 404 bob #k `)
	bob.Join("#k")
	bob.Send("PART #k :bye now")
	op.Expect(`:bob!\S+ PART #k :bye now`)
	bob.Send("PART #k")
	bob.Expect(` 442 bob #k `)
	bob.Send("PART #nowhere")
	bob.Expect(` 403 bob #nowhere `)
}

func TestList(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a := ts.register("alice")
	a.Join("#open")
	a.Send("TOPIC #open :all welcome")
	a.Join("#hidden")
	a.Send("MODE #hidden +s")
	a.Expect(`MODE #hidden \+s`)
	other := ts.register("other")
	other.Send("LIST")
	other.Expect(` 321 other Channel :Users  Name`)
	_, lines := other.ExpectAfter(` 323 other :End of /LIST`)
	matchInOrder(t, lines, []string{` 322 other #open 1 :all welcome`})
	for _, l := range lines {
		if regexpMatch(`#hidden`, l) {
			t.Fatalf("secret channel listed: %q", l)
		}
	}
}

func TestMotdAndLusers(t *testing.T) {
	t.Parallel()
	motd := filepath.Join(t.TempDir(), "motd")
	if err := os.WriteFile(motd, []byte("be kind\nno spam\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, withConfig(func(cfg *config.Config) { cfg.MOTDFile = motd }))
	c := ts.dial()
	c.Send("PASS :%s", testPassword)
	c.Send("NICK alice")
	c.Send("USER alice 0 * :A")
	c.Expect(` 251 alice :There are 1 users and 0 invisible on 1 servers`)
	c.Expect(` 375 alice :- irc\.test Message of the day`)
	c.Expect(` 372 alice :- be kind`)
	c.Expect(` 372 alice :- no spam`)
	c.Expect(` 376 alice `)
	bob := ts.register("bob")
	bob.Join("#formed")
	c.Send("LUSERS")
	c.Expect(` 251 alice :There are 2 users`)
	c.Expect(` 254 alice 1 :channels formed`)
	c.Expect(` 266 alice 2 2 `)
	// The invisible count follows user modes and quits.
	bob.Send("MODE bob +i")
	bob.Expect(`MODE bob :?\+i`)
	c.Send("LUSERS")
	c.Expect(` 251 alice :There are 1 users and 1 invisible on 1 servers`)
	bob.Send("QUIT")
	bob.ExpectClosed() // the server hangs up after it has removed bob
	c.Send("LUSERS")
	c.Expect(` 251 alice :There are 1 users and 0 invisible on 1 servers`)
	c.Send("MOTD")
	c.Expect(` 375 alice `)
}

func TestNickChangeSeenByChannel(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	alice.Join("#n")
	bob.Join("#n")
	alice.Send("NICK alicia")
	alice.Expect(`:alice!\S+ NICK :?alicia`)
	bob.Expect(`:alice!\S+ NICK :?alicia`)
	bob.Send("PRIVMSG alicia :found you")
	alice.Expect(`:bob!\S+ PRIVMSG alicia :found you`)
	bob.Send("WHOWAS alice")
	bob.Expect(` 314 bob alice ~alice `)
}

func TestMultipleTargetsAndNotice(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	carol := ts.register("carol")
	bob.Join("#m")
	alice.Join("#m")
	alice.Send("PRIVMSG #m,carol :to both")
	bob.Expect(`:alice!\S+ PRIVMSG #m :to both`)
	carol.Expect(`:alice!\S+ PRIVMSG carol :to both`)
	alice.Send("NOTICE nobody :quiet")
	alice.Send("NOTICE bob :psst")
	bob.Expect(`:alice!\S+ NOTICE bob :?psst`)
	alice.Quiet(` 401 `, 100*time.Millisecond)
}

func TestQuitSeenByChannel(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	alice.Join("#q")
	bob.Join("#q")
	alice.Send("QUIT :see you")
	alice.ExpectClosed()
	bob.Expect(`:alice!\S+ QUIT :Quit: see you`)
}

// TestFailWithoutDescription checks that fail, given no context, still
// sends the description the standard-replies spec requires (it used to
// index past the end of its arguments and panic).
func TestFailWithoutDescription(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := benchMembers(ts.srv, "#fail", 1)[0]
	c.label = &labelCollector{label: "x"}
	c.fail("TEST", "SOME_CODE")
	if len(c.label.msgs) != 1 {
		t.Fatalf("got %d replies, want 1", len(c.label.msgs))
	}
	m := c.label.msgs[0].m
	if m.Command != "FAIL" || !slices.Equal(m.Params, []string{"TEST", "SOME_CODE", "Command failed"}) {
		t.Fatalf("reply %v %q, want FAIL TEST SOME_CODE :Command failed", m.Command, m.Params)
	}
}
