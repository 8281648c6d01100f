package ircd

import (
	"net"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/irc.v4"
)

// TestMessageToSelf: PRIVMSG to one's own nick is delivered.
func TestMessageToSelf(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	alice.Send("PRIVMSG alice :note to self")
	alice.Expect(`^:alice!\S+ PRIVMSG alice :?note to self$`)
}

// TestMessageToSelfLabeledEcho: with echo-message and labeled-response, a
// message to oneself comes back as two lines, the label on the echo only.
func TestMessageToSelfLabeledEcho(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", "echo-message", "labeled-response", "batch", "message-tags")
	alice.Send("@label=me1 PRIVMSG alice :hello me")
	var labeled, plain int
	for _, line := range alice.Sync() {
		m, err := irc.ParseMessage(line)
		if err != nil || m.Command != "PRIVMSG" {
			continue
		}
		if m.Trailing() != "hello me" {
			t.Fatalf("unexpected PRIVMSG %q", line)
		}
		if m.Tags["label"] == "me1" {
			labeled++
		} else {
			plain++
		}
	}
	if labeled != 1 || plain != 1 {
		t.Fatalf("got %d labeled and %d unlabeled copies, want one of each", labeled, plain)
	}
}

// TestLabeledNick: the NICK line itself carries the label, with no ACK.
func TestLabeledNick(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", "labeled-response", "batch")
	alice.Send("@label=n1 NICK alice2")
	alice.Expect(`^@label=n1 :alice!\S+ NICK :?alice2$`)
	for _, line := range alice.Sync() {
		if strings.Contains(line, " ACK") {
			t.Fatalf("labeled NICK also drew %q", line)
		}
	}
}

// listed sends LIST with params and returns the channels of its 322
// replies, in order.
func listed(c *testClient, params string) []string {
	c.T().Helper()
	c.Send("LIST %s", params)
	_, lines := c.ExpectAfter(` 323 `)
	var out []string
	for _, l := range lines {
		if m, err := irc.ParseMessage(l); err == nil && m.Command == irc.RPL_LIST {
			out = append(out, m.Params[1])
		}
	}
	sort.Strings(out)
	return out
}

// TestListConditions covers each ELIST condition ISUPPORT advertises:
// U (user count), M and N (masks), C (creation) and T (topic age).
func TestListConditions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, bob := ts.register("alice"), ts.register("bob")
	alice.Join("#big")
	bob.Join("#big")
	alice.Join("#small")
	alice.Join("#old")
	alice.Send("TOPIC #big :new topic")
	alice.Expect(`TOPIC #big`)
	alice.Send("TOPIC #old :old topic")
	alice.Expect(`TOPIC #old`)
	old := ts.srv.lookupChannel("#old")
	old.mu.Lock()
	old.created = time.Now().Add(-2 * time.Hour)
	old.topic.at = time.Now().Add(-90 * time.Minute)
	old.mu.Unlock()

	cases := []struct{ params, want string }{
		{"", "#big #old #small"},
		{">1", "#big"},
		{"<2", "#old #small"},
		{"#big,#small", "#big #small"},
		{"#BIG", "#big"},
		{"*i*", "#big"},
		{"!*i*", "#old #small"},
		{"C>60", "#old"},
		{"C<60", "#big #small"},
		{"T<60", "#big"},
		{"T>60", "#old"},
		{"<3,!#small", "#big #old"},
		{"* >1", "#big"},
	}
	for _, tc := range cases {
		if got := strings.Join(listed(alice, tc.params), " "); got != tc.want {
			t.Errorf("LIST %s = %q, want %q", tc.params, got, tc.want)
		}
	}
}

// TestIsupportElist: ELIST advertises exactly the conditions LIST
// implements.
func TestIsupportElist(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	burst := c.RegisterSASL("alice", testPassword)
	if !strings.Contains(strings.Join(burst, "\n"), " ELIST=CMNTU ") {
		t.Fatalf("ISUPPORT lacks ELIST=CMNTU: %q", burst)
	}
}

// TestKickLists: KICK takes one channel and several nicks, or channels
// and nicks in pairs, as RFC 2812 says; anything else is 461, and more
// nicks than TARGMAX is 407.
func TestKickLists(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	op, bob, carol := ts.register("op"), ts.register("bob"), ts.register("carol")
	for _, ch := range []string{"#a", "#b"} {
		op.Join(ch)
		bob.Join(ch)
		carol.Join(ch)
	}
	op.Send("KICK #a,#b bob,carol :pairs")
	op.Expect(`:op!\S+ KICK #a bob :?pairs$`)
	op.Expect(`:op!\S+ KICK #b carol :?pairs$`)
	carol.Expect(`KICK #b carol`)
	op.Send("NAMES #a,#b")
	op.Expect(` 353 op = #a :?@op carol$`)
	op.Expect(` 366 op #a `)
	op.Expect(` 353 op = #b :?@op bob$`)
	op.Expect(` 366 op #b `)

	op.Send("KICK #a,#b carol")
	op.Expect(` 461 op KICK `)
	op.Send("KICK #a a,b,c,d,e")
	op.Expect(` 407 op `)
	op.Send("KICK #b bob,nobody :one channel")
	op.Expect(`:op!\S+ KICK #b bob :?one channel$`)
	op.Expect(` 401 op nobody `)
}

// TestTargmaxAdvertised: TARGMAX states the limits KICK and NAMES
// enforce: KICK up to maxTargets nicks, NAMES any number of channels.
func TestTargmaxAdvertised(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	burst := strings.Join(ts.dial().RegisterSASL("alice", testPassword), "\n")
	for _, want := range []string{"KICK:" + itoa(maxTargets) + ",", "NAMES:,", "JOIN:,"} {
		if !strings.Contains(burst, want) {
			t.Errorf("TARGMAX lacks %q", want)
		}
	}
}

// TestWelcomeBurstInOneWrite registers over plaintext in one write and
// reads the socket once: the whole welcome burst, 001 to the end of the
// MOTD, must be in that first read, so it left the server in one write.
func TestWelcomeBurstInOneWrite(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ln := loopbackListener(t)
	ts.srv.Start(ln, false)
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := conn.Write([]byte("PASS :" + testPassword + "\r\nNICK one\r\nUSER one 0 * :One\r\nPING first\r\nMODE one\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := string(buf[:n])
	if !strings.Contains(got, " 001 one ") || !regexp.MustCompile(` (376|422) one `).MatchString(got) ||
		!strings.Contains(got, " PONG ") || !strings.Contains(got, " 221 one ") {
		t.Fatalf("first read holds %d bytes, not the welcome burst and the replies that came with it: %q", n, got)
	}
}
