package ircd

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"securechat/ircd/history"
)

func TestMatchMask(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, mask, s string
		want          bool
	}{
		{"literal", "alice!~a@host", "alice!~a@host", true},
		{"case-insensitive", "ALICE!*@*", "alice!~a@Host", true},
		{"star matches all", "*", "anything!at@all", true},
		{"star matches empty", "a*b", "ab", true},
		{"question one byte", "?lice!*@*", "alice!~a@h", true},
		{"question not empty", "a?b", "ab", false},
		{"host wildcard", "*!*@*.example.org", "bob!~b@irc.example.org", true},
		{"host wildcard miss", "*!*@*.example.org", "bob!~b@example.org", false},
		{"prefix only", "alice", "alice!~a@h", false},
		{"trailing stars", "alice!~a@h**", "alice!~a@h", true},
		{"empty mask", "", "x", false},
		{"empty both", "", "", true},
		{"backtrack", "*ab*cd", "xabyabzcd", true},
		{"backtrack miss", "*ab*cd", "xabyabzce", false},
		{"many stars miss", strings.Repeat("*a", 30) + "*b", strings.Repeat("a", 5000), false},
		{"many stars hit", strings.Repeat("*a", 30) + "*b", strings.Repeat("a", 5000) + "b", true},
		{"questions and stars", strings.Repeat("?*", 40) + "x", strings.Repeat("y", 4000), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			if got := matchMask(tc.mask, tc.s); got != tc.want {
				t.Errorf("matchMask(%.40q, %.40q) = %v, want %v", tc.mask, tc.s, got, tc.want)
			}
			// Naive recursive backtracking takes astronomically long on the
			// "many stars" cases; the iterative matcher is quadratic at worst.
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestNormalizeMask(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"nick only", "Alice", "alice!*@*"},
		{"nick and user", "alice!~a", "alice!~a@*"},
		{"user and host", "~a@Host.Example", "*!~a@host.example"},
		{"full", "A!b@C", "a!b@c"},
		{"empty", "", ""},
		{"space", "a b", ""},
		{"comma", "a,b", ""},
		{"too long", strings.Repeat("x", maxMaskLen+1), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := normalizeMask(tc.in); got != tc.want {
				t.Errorf("normalizeMask(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseChannelModes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		spec  string
		args  []string
		want  string   // changes as "+o:alice -k: ..."
		lists string   // list modes asked for
		errs  []string // numerics
	}{
		{"flags", "+mi-t", nil, "+m: +i: -t:", "", nil},
		{"params", "+ov-k", []string{"alice", "bob", "old"}, "+o:alice +v:bob -k:old", "", nil},
		{"no sign means add", "n", nil, "+n:", "", nil},
		{"ban list", "b", nil, "", "b", nil},
		{"plus b no arg lists", "+b", nil, "", "b", nil},
		{"lists once each, in order", "Ibeb", nil, "", "Ibe", nil},
		{"ban normalised", "+b", []string{"Eve"}, "+b:eve!*@*", "", nil},
		{"exceptions normalised", "+eI-e", []string{"Eve", "*@Host", "x!y"}, "+e:eve!*@* +I:*!*@host -e:x!y@*", "", nil},
		{"bad exception mask", "+eI", []string{"a,b", ":x"}, "", "", []string{"696", "696"}},
		{"minus l takes none", "-l+k", []string{"key"}, "-l: +k:key", "", nil},
		{"minus k without arg", "-k", nil, "-k:", "", nil},
		{"o without arg ignored", "+o", nil, "", "", nil},
		{"unknown", "+xq", nil, "", "", []string{"472", "472"}},
		{"bad limit", "+l", []string{"lots"}, "", "", []string{"696"}},
		{"zero limit", "+l", []string{"0"}, "", "", []string{"696"}},
		{"bad key", "+k", []string{"a,b"}, "", "", []string{"696"}},
		{"too many params", "+vvvvvvv", []string{"a", "b", "c", "d", "e", "f", "g"},
			"+v:a +v:b +v:c +v:d +v:e +v:f", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := parseChannelModes("#c", tc.spec, tc.args)
			var got []string
			for _, mc := range p.changes {
				sign := "-"
				if mc.add {
					sign = "+"
				}
				got = append(got, sign+string(mc.mode)+":"+mc.arg)
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("changes %q, want %q", strings.Join(got, " "), tc.want)
			}
			if p.lists != tc.lists {
				t.Errorf("lists %q, want %q", p.lists, tc.lists)
			}
			var errs []string
			for _, e := range p.errs {
				errs = append(errs, e.numeric)
			}
			if !reflect.DeepEqual(errs, tc.errs) {
				t.Errorf("errors %v, want %v", errs, tc.errs)
			}
		})
	}
}

func TestChannelStateRoundTrip(t *testing.T) {
	t.Parallel()
	fresh := newChannel("#fresh")
	fresh.modes = chanModes{inviteOnly: true, key: "k"}
	if _, keep := fresh.state(); keep {
		t.Fatal("a channel without a topic should not be stored, whatever its modes")
	}
	ch := newChannel("#Room")
	at := time.UnixMilli(1700000000000)
	ch.topic = topicState{text: "hello", setter: "a!b@c", at: at}
	ch.modes = chanModes{inviteOnly: true, moderated: true, secret: true, key: "k", limit: 5}
	ch.bans = []listEntry{{mask: "eve!*@*", setter: "a!b@c", at: at}}
	st, keep := ch.state()
	if !keep || st.Topic != "hello" || st.Modes != "" || st.Key != "" || st.Limit != 0 || len(st.Bans) != 0 {
		t.Fatalf("state = %+v, keep %v; want the topic only", st, keep)
	}
	back := newChannel(st.Name)
	if back.restore(st) {
		t.Error("restore of a topic-only state reports dropped settings")
	}
	if back.topic != ch.topic || back.modes != defaultChanModes() || back.bans != nil || !back.created.Equal(ch.created) {
		t.Fatalf("restored %+v %+v %+v, want topic %+v and defaults", back.topic, back.modes, back.bans, ch.topic)
	}
}

// TestRestoreDropsOldSettings loads a state as older versions stored it,
// with access settings: the channel comes back empty and joinable, with
// its topic, and restore says the stored state needs rewriting.
func TestRestoreDropsOldSettings(t *testing.T) {
	t.Parallel()
	ch := newChannel("#old")
	dropped := ch.restore(history.ChannelState{Name: "#old", Topic: "t", Modes: "int", Key: "pw", Limit: 3,
		Bans: []history.Ban{{Mask: "*!*@*"}}})
	if !dropped || ch.modes != defaultChanModes() || ch.bans != nil || ch.topic.text != "t" {
		t.Fatalf("dropped %v, modes %+v, bans %v, topic %q", dropped, ch.modes, ch.bans, ch.topic.text)
	}
}

func TestUserMode(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	ts.register("bob")
	alice.Send("MODE alice")
	alice.Expect(` 221 alice :?\+$`)
	alice.Send("MODE alice +iw")
	alice.Expect(`^:alice!\S+ MODE alice :?\+iw$`)
	alice.Send("MODE alice +o")
	alice.Send("MODE alice")
	alice.Expect(` 221 alice :?\+iw$`)
	alice.Send("MODE alice -w+x")
	alice.Expect(` 501 alice :Unknown MODE flag`)
	alice.Expect(`MODE alice :?-w$`)
	alice.Send("MODE bob +i")
	alice.Expect(` 502 alice :`)
	alice.Send("MODE nobody")
	alice.Expect(` 401 alice nobody `)
}

func TestChannelModeQuery(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	alice.Join("#c")
	alice.Send("MODE #c +kl sekrit 10")
	alice.Expect(`MODE #c \+kl sekrit :?10`)
	alice.Send("MODE #c")
	alice.Expect(` 324 alice #c \+ntkl sekrit :?10$`)
	alice.Expect(` 329 alice #c :?\d+$`)
	bob.Send("MODE #c")
	bob.Expect(` 324 bob #c \+ntkl \* :?10$`) // the key is for members only
	bob.Send("MODE #nope")
	bob.Expect(` 403 bob #nope `)
}

func TestFirstJoinerIsOp(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	alice.Send("JOIN #c")
	alice.Expect(` 353 alice = #c :?@alice$`)
	bob.Send("JOIN #c")
	names := bob.Expect(` 353 bob = #c `)
	if got := names.Trailing(); got != "@alice bob" {
		t.Fatalf("NAMES = %q, want %q", got, "@alice bob")
	}
}

func TestChannelModeBroadcast(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	carol := ts.register("carol")
	alice.Join("#c")
	bob.Join("#c")
	carol.Join("#c")
	alice.Send("MODE #c +k key")
	carol.Expect(`MODE #c \+k :?key$`)
	alice.Send("MODE #c +ov-kt bob carol *")
	want := `^:alice!\S+ MODE #c \+ov-kt bob carol :?\*$`
	for _, c := range []*testClient{alice, bob, carol} {
		c.Expect(want)
	}
	// A change that changes nothing is not announced.
	alice.Send("MODE #c +o bob")
	alice.Sync()
	bob.Quiet(`MODE #c`, 200*time.Millisecond)
	bob.Send("NAMES #c")
	if got := bob.Expect(` 353 `).Trailing(); got != "+carol @alice @bob" {
		t.Fatalf("NAMES = %q", got)
	}
}

func TestChannelModeErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, by, line, want string
	}{
		{"non-op changes", "bob", "MODE #c +m", ` 482 bob #c :You're not channel operator`},
		{"non-op ops himself", "bob", "MODE #c +o bob", ` 482 bob #c `},
		{"unknown nick", "alice", "MODE #c +o ghost", ` 401 alice ghost `},
		{"not a member", "alice", "MODE #c +v carol", ` 441 alice carol #c `},
		{"unknown letter", "alice", "MODE #c +Z", ` 472 alice Z :is unknown mode char to me`},
		{"bad limit", "alice", "MODE #c +l -3", ` 696 alice #c l -3 :`},
		{"bad key", "alice", "MODE #c +k :a b", ` 696 alice #c k a_b :`},
		{"long key", "alice", "MODE #c +k " + strings.Repeat("x", 100), ` 696 alice #c k ` + strings.Repeat("x", 2*keyLen) + ` :Invalid key`},
		{"key with colon", "alice", "MODE #c +k ::pw", ` 696 alice #c k _pw :`},
		{"outsider lists bans", "carol", "MODE #c b", ` 368 carol #c :End of channel ban list`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t)
			clients := map[string]*testClient{"alice": ts.register("alice"), "bob": ts.register("bob"), "carol": ts.register("carol")}
			clients["alice"].Join("#c")
			clients["bob"].Join("#c")
			clients[tc.by].Send("%s", tc.line)
			clients[tc.by].Expect(tc.want)
		})
	}
}

func TestBanList(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	alice.Join("#c")
	bob.Join("#c")
	alice.Send("MODE #c +bb Eve *!*@bad.example")
	bob.Expect(`MODE #c \+bb eve!\*@\* :?\*!\*@bad.example$`)
	bob.Send("MODE #c +b")
	bob.Expect(` 367 bob #c eve!\*@\* alice!\S+ \d+$`)
	bob.Expect(` 367 bob #c \*!\*@bad.example alice!\S+ \d+$`)
	bob.Expect(` 368 bob #c `)
	alice.Send("MODE #c -b EVE")
	bob.Expect(`MODE #c -b :?eve!\*@\*$`)
	alice.Send("MODE #c b")
	_, before := alice.ExpectAfter(` 368 alice #c `)
	if n := strings.Count(strings.Join(before, "\n"), " 367 "); n != 1 {
		t.Fatalf("want one ban left, got %q", before)
	}
}

func TestBanListFull(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	alice.Join("#c")
	addBans(alice, "#c", maxBans)
	alice.Send("MODE #c +b onetoomany")
	alice.Expect(` 478 alice #c b :`)
}

// addBans has c ban n masks on channel, maxModes to a MODE line.
func addBans(c *testClient, channel string, n int) {
	for i := 0; i < n; i += maxModes {
		var masks []string
		for j := i; j < min(i+maxModes, n); j++ {
			masks = append(masks, fmt.Sprintf("n%d", j))
		}
		c.Send("MODE %s +%s %s", channel, strings.Repeat("b", len(masks)), strings.Join(masks, " "))
	}
}

// TestChannelModesEnforced checks that each mode refuses what it should,
// and that an operator of the channel is not refused.
func TestChannelModesEnforced(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, mode, line, want string
		member                 bool // bob joins before the mode is set
	}{
		{"moderated", "+m", "PRIVMSG #c :hi", ` 404 bob #c `, true},
		{"no external", "+n", "PRIVMSG #c :hi", ` 404 bob #c `, false},
		{"topic lock", "+t", "TOPIC #c :mine", ` 482 bob #c `, true},
		{"kick needs op", "+t", "KICK #c alice", ` 482 bob #c `, true},
		{"key", "+k pw", "JOIN #c", ` 475 bob #c `, false},
		{"wrong key", "+k pw", "JOIN #c nope", ` 475 bob #c `, false},
		{"limit", "+l 1", "JOIN #c", ` 471 bob #c `, false},
		{"invite only", "+i", "JOIN #c", ` 473 bob #c `, false},
		{"banned", "+b bob", "JOIN #c", ` 474 bob #c `, false},
		{"banned by host", "+b *!*@127.0.0.1", "JOIN #c", ` 474 bob #c `, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t)
			alice := ts.register("alice")
			bob := ts.register("bob")
			alice.Join("#c")
			if tc.member {
				bob.Join("#c")
			}
			alice.Send("MODE #c %s", tc.mode)
			alice.Sync() // +n and +t are defaults, so no MODE line to wait for
			bob.Send("%s", tc.line)
			bob.Expect(tc.want)
		})
	}
}

func TestKeyAndInviteAdmit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	alice.Join("#c")
	alice.Send("MODE #c +ik pw")
	alice.Expect(`MODE #c \+ik`)
	bob.Send("JOIN #c pw")
	bob.Expect(` 473 bob #c `)
	alice.Send("INVITE bob #c")
	alice.Expect(` 341 alice bob #c`)
	bob.Expect(`INVITE bob :?#c`)
	bob.Send("JOIN #c pw")
	bob.Expect(`:bob!\S+ JOIN #c`)
}

// TestChannelModesLapseAcrossRestart: a restart empties every channel,
// so its access settings lapse like any emptied channel's, and the topic
// stays.
func TestChannelModesLapseAcrossRestart(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	alice.Join("#keep")
	alice.Send("TOPIC #keep :still here")
	alice.Expect(`TOPIC #keep :?still here$`)
	alice.Send("MODE #keep +iksb pw bad")
	alice.Expect(`MODE #keep \+iksb pw :?bad!\*@\*`)
	ts.shutdown() // alice is still in #keep; shutdown stores the settings

	again := newTestServer(t, withStore(ts.store, ts.vault))
	bob := again.register("bob")
	bob.Send("JOIN #keep")
	bob.Expect(` 332 bob #keep :?still here$`)
	bob.Expect(` 353 bob = #keep :?@bob$`)
	bob.Send("MODE #keep")
	bob.Expect(` 324 bob #keep :?\+nt$`)
}

func TestEchoParam(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"plain", "abc", "abc"},
		{"empty", "", "*"},
		{"space and control", "a\x01 b", "a__b"},
		{"leading colon", ":x:y", "_x:y"},
		{"long", strings.Repeat("k", 10), "kkkk"},
		{"cut on a character boundary", "kkké", "kkk"},
	}
	for _, tc := range cases {
		if got := echoParam(tc.in, 4); got != tc.want {
			t.Errorf("%s: echoParam(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}
