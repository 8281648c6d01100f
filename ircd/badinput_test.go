package ircd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"securechat/config"
	"securechat/ircd/irctest"
)

// badEnv is a server where bad (message-tags) and peer (message-tags,
// server-time, batch, chathistory) share #bad, and bad already said
// "marker", so every row can show history is unharmed.
type badEnv struct {
	ts   *testServer
	bad  *testClient
	peer *testClient
}

func newBadEnv(t *testing.T, opts ...serverOption) *badEnv {
	t.Helper()
	ts := newTestServer(t, opts...)
	e := &badEnv{ts: ts, bad: ts.register("bad", "message-tags"),
		peer: ts.register("peer", "message-tags", "server-time", "batch", "draft/chathistory")}
	e.bad.Join("#bad")
	e.peer.Join("#bad")
	e.bad.Send("PRIVMSG #bad :marker")
	e.peer.Expect(`PRIVMSG #bad :?marker$`)
	return e
}

// check proves the server is unharmed after a row: bad still gets its
// PONG, peer still hears bad, peer saw nothing matching never on the way,
// and #bad's history is marker, stored..., after.
func (e *badEnv) check(t *testing.T, never, badNever string, stored []string) {
	t.Helper()
	e.bad.Send("PING :alive")
	_, skipped := e.bad.ExpectAfter(`PONG \S+ :?alive$`)
	if badNever != "" {
		assertNone(t, "bad", skipped, badNever)
	}
	e.bad.Send("PRIVMSG #bad :after")
	_, skipped = e.peer.ExpectAfter(`:bad!\S+ PRIVMSG #bad :?after$`)
	if never != "" {
		assertNone(t, "peer", skipped, never)
	}
	e.peer.Send("CHATHISTORY LATEST #bad * 50")
	got := texts(e.peer.historyBatch())
	want := append(append([]string{"marker"}, stored...), "after")
	if !slices.Equal(got, want) {
		t.Fatalf("history of #bad = %q, want %q", got, want)
	}
}

func assertNone(t *testing.T, who string, lines []string, pattern string) {
	t.Helper()
	re := regexp.MustCompile(pattern)
	for _, l := range lines {
		if re.MatchString(l) {
			t.Fatalf("%s got %q, which must not happen", who, l)
		}
	}
}

// badRow is one bad input. The lines go out as raw bytes with CRLF added,
// from bad, or from a fresh unregistered connection when fresh is set.
type badRow struct {
	name     string
	fresh    bool
	lines    []string
	want     []string // patterns the sender sees, in order
	finish   []string // fresh only: lines that must then complete registration
	relay    []string // patterns peer sees, in order
	never    string   // peer must not see this before bad's check message
	badNever string   // bad must not see this before its check PONG
	stored   []string // texts stored between marker and the check message
	extra    func(t *testing.T, e *badEnv)
}

// nothingRelayed matches any message bad might have got through to #bad.
const nothingRelayed = `:bad!\S+ (PRIVMSG|NOTICE|TAGMSG) `

func TestBadInput(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 496)
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("n%d", i))
	}
	var manyTags []string
	for i := range 500 {
		manyTags = append(manyTags, fmt.Sprintf("+t%d", i))
	}
	rows := []badRow{
		{name: "body of 512 bytes with CRLF is relayed", lines: []string{"PRIVMSG #bad :" + long},
			relay: []string{`PRIVMSG #bad :?` + long + `$`}, stored: []string{long}},
		{name: "body over 512 bytes", lines: []string{"PRIVMSG #bad :" + long + "yz"},
			want: []string{` 417 bad :Input line was too long`}, never: nothingRelayed},
		{name: "line longer than the read buffer", lines: []string{"PRIVMSG #bad :" + strings.Repeat("x", 9000)},
			want: []string{` 417 bad `}, never: nothingRelayed},
		{name: "tags over 8191 bytes", lines: []string{"@+a=" + strings.Repeat("v", 8200) + " PRIVMSG #bad :big"},
			want: []string{` 417 bad `}, never: nothingRelayed},
		{name: "client tag data over 4094 bytes", lines: []string{"@+a=" + strings.Repeat("v", 4092) + " PRIVMSG #bad :big"},
			want: []string{` 417 bad `}, never: nothingRelayed},
		{name: "client tag data of 4094 bytes is relayed", lines: []string{"@+a=" + strings.Repeat("v", 4091) + " PRIVMSG #bad :fits"},
			relay: []string{`^@\S*\+a=` + strings.Repeat("v", 4091) + `[; ].*PRIVMSG #bad :?fits$`}, stored: []string{"fits"}},
		{name: "500 client tags within the budget are relayed", lines: []string{"@" + strings.Join(manyTags, ";") + " PRIVMSG #bad :tagged"},
			relay: []string{`^@\S*\+t499[; ].* PRIVMSG #bad :?tagged$`}, stored: []string{"tagged"}},
		{name: "missing parameters", lines: []string{"PRIVMSG", "PRIVMSG #bad", "NOTICE", "TAGMSG", "JOIN", "PART", "MODE", "KICK #bad",
			"TOPIC", "INVITE bad", "NICK", "USER", "WHOIS", "CHATHISTORY LATEST #bad", "OPER x", "PING"},
			want: []string{` 461 bad PRIVMSG `, ` 461 bad PRIVMSG `, ` 461 bad NOTICE `, ` 461 bad TAGMSG `, ` 461 bad JOIN `,
				` 461 bad PART `, ` 461 bad MODE `, ` 461 bad KICK `, ` 461 bad TOPIC `, ` 461 bad INVITE `, ` 431 bad :No nickname given`,
				` 461 bad USER `, ` 461 bad WHOIS `, ` 461 bad CHATHISTORY `, ` 461 bad OPER `, ` 461 bad PING `},
			never: nothingRelayed},
		{name: "empty target list and empty text", lines: []string{"PRIVMSG , :hi", "PRIVMSG #bad :", "NOTICE , :hi"},
			want: []string{` 411 bad `, ` 412 bad `}, never: nothingRelayed, badNever: `\(NOTICE\)`},
		{name: "100 targets", lines: []string{"PRIVMSG #bad," + strings.Join(many, ",") + " :spam"},
			want: []string{` 407 bad \S+ :Too many targets`}, never: nothingRelayed},
		{name: "5 targets", lines: []string{"PRIVMSG #bad,a,b,c,d :spam"}, want: []string{` 407 bad `}, never: nothingRelayed},
		{name: "4 targets get one reply each", lines: []string{"PRIVMSG #bad,nobody1,#nochan,nobody2 :four"},
			want:  []string{` 401 bad nobody1 `, ` 403 bad #nochan `, ` 401 bad nobody2 `},
			relay: []string{`PRIVMSG #bad :?four$`}, stored: []string{"four"}},
		{name: "NUL in text", lines: []string{"PRIVMSG #bad :a\x00b"},
			want: []string{` FAIL PRIVMSG INVALID_PARAMS `}, never: nothingRelayed},
		{name: "NUL in tag value", lines: []string{"@+x=a\x00b PRIVMSG #bad :nul"},
			want: []string{` FAIL PRIVMSG INVALID_PARAMS `}, never: nothingRelayed},
		{name: "NUL in command is not echoed", lines: []string{"PRIV\x00MSG #bad :nul"},
			want: []string{` FAIL \* INVALID_PARAMS `}, never: nothingRelayed},
		{name: "CR inside text cannot forge a line", lines: []string{"PRIVMSG #bad :a\rPRIVMSG #bad :evil"},
			want: []string{` FAIL PRIVMSG INVALID_PARAMS :.*CR`}, never: `evil|` + nothingRelayed},
		{name: "raw CR in tag value", lines: []string{"@+x=a\r:evil PRIVMSG #bad :crtag"},
			want: []string{` FAIL PRIVMSG INVALID_PARAMS `}, never: `evil|` + nothingRelayed},
		{name: "LF inside text makes two lines, both from the sender", lines: []string{"PRIVMSG #bad :one\nPRIVMSG #bad :two"},
			relay:  []string{`^@\S+ :bad!~bad@\S+ PRIVMSG #bad :?one$`, `^@\S+ :bad!~bad@\S+ PRIVMSG #bad :?two$`},
			stored: []string{"one", "two"}},
		{name: "escaped CR LF in a tag value stays escaped", lines: []string{`@+x=a\r\nb\:c\sd\\ PRIVMSG #bad :esc`},
			stored: []string{"esc"}, extra: func(t *testing.T, e *badEnv) {
				m, skipped := e.peer.ExpectAfter(`PRIVMSG #bad :?esc$`)
				assertNone(t, "peer", skipped, nothingRelayed)
				if got := m.Tags["+x"]; got != "a\r\nb;c d\\" {
					t.Fatalf("tag +x = %q after the round trip", got)
				}
			}},
		{name: "invalid UTF-8 in text", lines: []string{"PRIVMSG #bad :\xff\xfe", "PRIVMSG #bad :\xc0\xaf", "NOTICE #bad :\xed\xa0\x80"},
			want:  []string{` FAIL PRIVMSG INVALID_UTF8 `, ` FAIL PRIVMSG INVALID_UTF8 `, ` FAIL NOTICE INVALID_UTF8 `},
			never: nothingRelayed},
		{name: "invalid UTF-8 in tag value, nick, channel, command", lines: []string{"@+x=\xff PRIVMSG #bad :u", "NICK b\xe9d", "JOIN #b\xe9d", "\xffCMD x"},
			want: []string{` FAIL PRIVMSG INVALID_UTF8 `, ` FAIL NICK INVALID_UTF8 `, ` FAIL JOIN INVALID_UTF8 `,
				` FAIL \x{FFFD}CMD INVALID_UTF8 `}, // the parser's upper-casing already replaced the byte
			never: nothingRelayed + `|NICK|JOIN`},
		{name: "invalid nicks", lines: []string{"NICK 1abc", "NICK a,b", "NICK #x", "NICK " + strings.Repeat("n", 31), "NICK bé", "NICK a*"},
			want:  []string{` 432 bad 1abc `, ` 432 bad a,b `, ` 432 bad #x `, ` 432 bad n{31} `, ` 432 bad bé `, ` 432 bad a\* `},
			never: ` NICK `},
		{name: "invalid channel names", lines: []string{"JOIN nohash", "JOIN #", "JOIN #a\x07b", "JOIN #" + strings.Repeat("c", 64), "PRIVMSG #nochan :x"},
			want:  []string{` 403 bad nohash `, ` 403 bad # `, ` 403 bad #a\x07b `, ` 403 bad #c{64} `, ` 403 bad #nochan `},
			never: ` JOIN `},
		{name: "unknown tags dropped, client-only tags relayed, server tags not spoofable",
			lines:  []string{"@foo=bar;+ok=yes;time=2000-01-01T00:00:00.000Z;msgid=fake;account=evil;batch=x;label=l PRIVMSG #bad :tagcheck"},
			stored: []string{"tagcheck"}, extra: func(t *testing.T, e *badEnv) {
				m := e.peer.Expect(`PRIVMSG #bad :?tagcheck$`)
				if m.Tags["+ok"] != "yes" {
					t.Fatalf("client-only tag not relayed: %v", m.Tags)
				}
				for _, k := range []string{"foo", "account", "batch", "label"} {
					if _, ok := m.Tags[k]; ok {
						t.Fatalf("tag %q relayed: %v", k, m.Tags)
					}
				}
				if m.Tags["msgid"] == "fake" || strings.HasPrefix(m.Tags["time"], "2000") {
					t.Fatalf("server tags spoofed: %v", m.Tags)
				}
			}},
		{name: "TAGMSG with only unknown tags is dropped", lines: []string{"@foo=bar TAGMSG #bad"}, never: `TAGMSG`},
		{name: "TAGMSG with a client-only tag is relayed", lines: []string{"@+typing=active TAGMSG #bad"},
			relay: []string{`^@\S*\+typing=active\S* :bad!\S+ TAGMSG #bad$`}},
		{name: "spoofed prefix is ignored", lines: []string{":peer!p@evil PRIVMSG #bad :spoof"},
			relay: []string{`^@\S+ :bad!~bad@\S+ PRIVMSG #bad :?spoof$`}, never: `:peer!`, stored: []string{"spoof"}},
		{name: "CTCP is relayed intact", lines: []string{"PRIVMSG #bad :\x01ACTION waves\x01"},
			relay: []string{`PRIVMSG #bad :\x01ACTION waves\x01$`}, stored: []string{"\x01ACTION waves\x01"}},
		{name: "line of tags and a space only", lines: []string{"@a ", "@+x=y", ":bad", "@a :p ", "   "},
			badNever: `ERROR|FAIL`, never: nothingRelayed + `|QUIT`},
		{name: "unknown commands", lines: []string{"FOO bar", "001 x", "PRIVMSG2 #bad :x"},
			want: []string{` 421 bad FOO `, ` 421 bad 001 `, ` 421 bad PRIVMSG2 `}, never: nothingRelayed},
		{name: "CAP after registration", lines: []string{"CAP LS 302", "CAP REQ :away-notify", "CAP LIST", "CAP END"},
			want:     []string{`CAP bad LS :.*sasl=PLAIN`, `CAP bad ACK :?away-notify$`, `CAP bad LIST :.*message-tags.*away-notify.*cap-notify`},
			badNever: ` 00[1-5] `},
		{name: "CAP REQ -cap-notify after LS 302 is refused", lines: []string{"CAP LS 302", "CAP REQ :-cap-notify", "CAP LIST"},
			want: []string{`CAP bad LS `, `CAP bad NAK :?-cap-notify$`, `CAP bad LIST :.*cap-notify`}},
		{name: "CAP REQ with an unknown cap changes nothing", lines: []string{"CAP REQ :server-time bogus-cap", "CAP LIST", "CAP FOO"},
			want: []string{`CAP bad NAK :server-time bogus-cap$`, `CAP bad LIST :sasl message-tags cap-notify$`, ` 410 bad FOO `}},
		{name: "AUTHENTICATE, PASS and USER after registration", lines: []string{"AUTHENTICATE PLAIN", "PASS :" + testPassword, "USER a 0 * :b"},
			want: []string{` 907 bad `, ` 462 bad `, ` 462 bad `}},
		{name: "AUTHENTICATE before CAP REQ sasl", fresh: true,
			lines:  []string{"CAP LS 302", "AUTHENTICATE PLAIN"},
			want:   []string{`CAP \* LS `, ` 904 \* `},
			finish: saslFinish("pre1")},
		{name: "AUTHENTICATE with an unknown mechanism", fresh: true,
			lines:  []string{"CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE EXTERNAL"},
			want:   []string{`CAP \* ACK`, ` 908 \* PLAIN `, ` 904 \* `},
			finish: saslFinish("pre2")},
		{name: "AUTHENTICATE with too many chunks", fresh: true,
			lines: append([]string{"CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN"},
				slices.Repeat([]string{"AUTHENTICATE " + strings.Repeat("A", 400)}, 11)...),
			want:   []string{`AUTHENTICATE \+`, ` 905 \* `},
			finish: saslFinish("pre3")},
		{name: "AUTHENTICATE chunk over 400 bytes", fresh: true,
			lines:  []string{"CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE " + strings.Repeat("A", 401)},
			want:   []string{`AUTHENTICATE \+`, ` 905 \* `},
			finish: saslFinish("pre4")},
		{name: "AUTHENTICATE abort", fresh: true,
			lines:  []string{"CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE *"},
			want:   []string{`AUTHENTICATE \+`, ` 906 \* `},
			finish: saslFinish("pre5")},
		{name: "AUTHENTICATE after success", fresh: true,
			lines: []string{"CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE " + irctest.SASLPlain("x", testPassword), "AUTHENTICATE PLAIN"},
			want:  []string{` 903 \* `, ` 907 \* `}, finish: []string{"NICK pre6", "USER pre6 0 * :p", "CAP END"}},
		{name: "repeated PASS does not replace the first", fresh: true,
			lines: []string{"PASS :" + testPassword, "PASS :wrong"}, want: []string{` 462 \* `},
			finish: []string{"NICK pre7", "USER pre7 0 * :p"}},
		{name: "commands before registration", fresh: true,
			lines: []string{"JOIN #bad", "PRIVMSG #bad :pre", "FOO"}, want: []string{` 451 \* `, ` 451 \* `, ` 451 \* `},
			never: `PRIVMSG #bad :pre$`, finish: []string{"PASS :" + testPassword, "NICK pre8", "USER pre8 0 * :p"}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			e := newBadEnv(t)
			sender := e.bad
			if row.fresh {
				sender = e.ts.dial()
				sender.Nick = "fresh"
			}
			sender.SendRaw(strings.Join(row.lines, "\r\n") + "\r\n")
			for _, w := range row.want {
				sender.Expect(w)
			}
			if row.fresh {
				sender.SendRaw(strings.Join(row.finish, "\r\n") + "\r\n")
				sender.Expect(` 001 `)
			}
			for _, r := range row.relay {
				_, skipped := e.peer.ExpectAfter(r)
				if row.never != "" {
					assertNone(t, "peer", skipped, row.never)
				}
			}
			if row.extra != nil {
				row.extra(t, e)
			}
			e.check(t, row.never, row.badNever, row.stored)
		})
	}
}

// saslFinish completes a SASL login after an abused exchange, which shows
// the connection is still usable.
func saslFinish(nick string) []string {
	return []string{"CAP REQ :sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE " + irctest.SASLPlain(nick, testPassword),
		"NICK " + nick, "USER " + nick + " 0 * :p", "CAP END"}
}

// TestTLSPortGarbage sends what is not TLS to the TLS port: the server
// hangs up on that connection quickly (a stalled handshake within the
// registration timeout) and keeps serving everyone else.
func TestTLSPortGarbage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) { cfg.RegistrationTimeout = time.Second }))
	alice := ts.registerPass("alice")
	rows := []struct {
		name   string
		data   []byte
		within time.Duration
	}{
		{"random bytes", []byte("\x00\xff\x13\x37garbage\x16\x03\xff\xff\xff\r\n"), time.Second},
		{"plaintext IRC", []byte("NICK plain\r\nUSER plain 0 * :p\r\nPING x\r\n"), time.Second},
		{"TLS record header, then silence", []byte{0x16, 0x03, 0x01, 0x40, 0x00}, 3 * time.Second},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			start := time.Now()
			if _, err := nc.Write(row.data); err != nil {
				t.Fatal(err)
			}
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(nc)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open after 10 s")
			}
			if d := time.Since(start); d > row.within+2*time.Second {
				t.Fatalf("closed after %v, want within %v", d, row.within)
			}
			if bytes.Contains(got, []byte(" 001 ")) || bytes.Contains(got, []byte("PONG")) {
				t.Fatalf("plaintext got an IRC answer: %q", got)
			}
			alice.Sync()
		})
	}
	bob := ts.registerPass("bob")
	bob.Send("PRIVMSG alice :still here")
	alice.Expect(`:bob!\S+ PRIVMSG alice :still here`)
}

// TestHalfLineUnregistered is a slowloris that sends half a line and
// stops before logging in: the registration timeout drops it.
func TestHalfLineUnregistered(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) { cfg.RegistrationTimeout = 500 * time.Millisecond }))
	slow := ts.dial()
	slow.Nick = "slow"
	start := time.Now()
	slow.SendRaw("NICK slo")
	lines := slow.ExpectClosed()
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Fatalf("dropped after %v, want about the 500 ms registration timeout", d)
	}
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "ERROR :Closing link: (*@127.0.0.1) [Registration timed out]") {
		t.Fatalf("last lines %q, want the registration timeout ERROR", lines)
	}
	if v := counterValue(t, ts, "securechat_refused_connections_total", map[string]string{"reason": "registration_timeout"}); v != 1 {
		t.Fatalf("registration_timeout refusals = %v, want 1", v)
	}
	ts.registerPass("after").Sync()
}

// TestHalfLineRegistered is a slowloris that logged in, then sends half a
// line and stops: it gets a PING, and the ping timeout drops it; the half
// line is never relayed, and a client that keeps talking stays.
func TestHalfLineRegistered(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) {
		cfg.PingInterval, cfg.PingTimeout = 300*time.Millisecond, 300*time.Millisecond
	}))
	watch := ts.registerPass("watch")
	watch.Join("#x")
	slow := ts.registerPass("slow")
	slow.Join("#x")
	start := time.Now() // slow's last full line: its ping clock starts here
	watch.Expect(`:slow!\S+ JOIN #x`)
	// watch answers for itself by talking every 100 ms meanwhile.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				_, _ = io.WriteString(watch.Conn(), "PONG :keepalive\r\n")
			}
		}
	}()
	slow.SendRaw("PRIVMSG #x :half a li")
	slow.Expect(`^PING `)
	slow.ExpectClosed()
	d := time.Since(start)
	_, skipped := watch.ExpectAfter(`:slow!\S+ QUIT :Ping timeout`)
	close(stop)
	<-done
	if d < 500*time.Millisecond || d > 5*time.Second {
		t.Fatalf("dropped after %v, want about ping interval + timeout (600 ms)", d)
	}
	assertNone(t, "watch", skipped, `half a li`)
	if v := counterValue(t, ts, "securechat_refused_connections_total", map[string]string{"reason": "ping_timeout"}); v != 1 {
		t.Fatalf("ping_timeout refusals = %v, want 1", v)
	}
	watch.Sync()
}

// A client that never reads is cut off by its send queue while everyone
// else goes on: TestSlowReaderIsDisconnected in concurrency_test.go.
