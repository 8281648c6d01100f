package ircd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"securechat/config"
	"securechat/store/redistest"
)

// markerCaps are a read-marker client's caps without draft/chathistory,
// so its JOINs still replay.
var markerCaps = []string{"draft/read-marker", "batch", "server-time", "message-tags", "echo-message"}

// markedAt is a marker time in the past (the server clamps future ones).
const markedAt = "2026-01-02T03:04:05.678Z"

// markRead sets c's marker on target and waits for the answer.
func (c *testClient) markRead(target, stamp string) {
	c.T().Helper()
	c.Send("MARKREAD %s timestamp=%s", target, stamp)
	c.Expect(` MARKREAD ` + regexp.QuoteMeta(target) + ` timestamp=`)
}

// expectMarker asks for c's marker on target and checks it is want: a
// server time, or "*" for none.
func (c *testClient) expectMarker(target, want string) {
	c.T().Helper()
	c.Send("MARKREAD %s", target)
	if want != "*" {
		want = "timestamp=" + want
	}
	c.Expect(`^:irc.test MARKREAD ` + regexp.QuoteMeta(target) + ` ` + regexp.QuoteMeta(want) + `$`)
}

// zoeServer starts a server with accounts and registers the account zoe,
// with caps.
func zoeServer(t *testing.T, caps ...string) (*testServer, *testClient) {
	ts := newTestServer(t, withAccounts())
	return ts, ts.registerAccount("zoe", personalPassword, caps...)
}

// markLines returns the MARKREAD lines among lines.
func markLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, " MARKREAD ") {
			out = append(out, l)
		}
	}
	return out
}

// TestMarkreadSyncsAccountClients sets a marker from one client of an
// account: both its clients that negotiated draft/read-marker are told,
// another account's client is not, and a marker never moves back.
func TestMarkreadSyncsAccountClients(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	phone := ts.registerAccount("zoe", personalPassword, markerCaps...)
	laptop := ts.loginAccount("zoe_lap", "zoe", personalPassword, markerCaps...)
	old := ts.loginAccount("zoe_old", "zoe", personalPassword) // no draft/read-marker
	other := ts.registerAccount("yan", personalPassword, markerCaps...)

	phone.Send("MARKREAD #c timestamp=" + markedAt)
	phone.Expect(`^:irc.test MARKREAD #c timestamp=` + markedAt + `$`)
	laptop.Expect(`^:irc.test MARKREAD #c timestamp=` + markedAt + `$`)

	phone.Send("MARKREAD #c timestamp=2026-01-01T00:00:00.000Z") // older: ignored
	phone.Expect(`^:irc.test MARKREAD #c timestamp=` + markedAt + `$`)
	laptop.expectMarker("#C", markedAt)
	laptop.expectMarker("zoe_peer", "*")

	for _, c := range []*testClient{laptop, old, other} {
		if got := markLines(c.Sync()); len(got) != 0 {
			t.Errorf("%s got %q, want no more MARKREAD", c.Nick, got)
		}
	}
	other.expectMarker("#c", "*")
}

// TestMarkreadOnJoin checks a draft/read-marker client gets its marker
// (or "*") right after its JOIN, before the end of NAMES.
func TestMarkreadOnJoin(t *testing.T) {
	t.Parallel()
	ts, zoe := zoeServer(t, markerCaps...)
	lines := zoe.Join("#c")
	if got := markLines(lines); len(got) != 1 || !strings.HasSuffix(got[0], " MARKREAD #c *") {
		t.Fatalf("first join: MARKREAD lines %q, want one with *", got)
	}
	zoe.markRead("#c", markedAt)
	zoe.Send("PART #c")
	lines = zoe.Join("#C")
	// The channel emptied, so "#C" names it now; its marker is the same.
	want := ":irc.test MARKREAD #C timestamp=" + markedAt
	if got := markLines(lines); len(got) != 1 || got[0] != want {
		t.Fatalf("rejoin: MARKREAD lines %q before 366, want [%q]", got, want)
	}
	plain := ts.loginAccount("zoe2", "zoe", personalPassword)
	if got := markLines(plain.Join("#C")); len(got) != 0 {
		t.Errorf("a client without draft/read-marker got %q", got)
	}
}

// TestMarkreadFollowsRename checks a RENAME moves the account's marker
// on the channel to its new name.
func TestMarkreadFollowsRename(t *testing.T) {
	t.Parallel()
	_, zoe := zoeServer(t, append(slices.Clone(markerCaps), "draft/channel-rename")...)
	zoe.Join("#old")
	zoe.markRead("#old", markedAt)
	zoe.Send("RENAME #old #new")
	zoe.Expect(` RENAME #old #new`)
	zoe.expectMarker("#new", markedAt)
	zoe.expectMarker("#old", "*")
}

// TestMarkreadErrors checks each bad MARKREAD gets its FAIL, and a
// future marker is clamped to now.
func TestMarkreadErrors(t *testing.T) {
	t.Parallel()
	ts, zoe := zoeServer(t, markerCaps...)
	for _, tc := range []struct{ name, line, want string }{
		{"no params", "MARKREAD", `FAIL MARKREAD NEED_MORE_PARAMS `},
		{"bad target", "MARKREAD #a,#b", `FAIL MARKREAD INVALID_PARAMS #a,#b `},
		{"no timestamp=", "MARKREAD #c 2026-01-02T03:04:05.678Z", `FAIL MARKREAD INVALID_PARAMS 2026-01-02T03:04:05.678Z `},
		{"bad time", "MARKREAD #c timestamp=yesterday", `FAIL MARKREAD INVALID_PARAMS timestamp=yesterday `},
		{"star", "MARKREAD #c *", `FAIL MARKREAD INVALID_PARAMS \* `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zoe.WithT(t).Send(tc.line)
			zoe.WithT(t).Expect(`^:irc.test ` + tc.want)
		})
	}
	zoe.Send("MARKREAD #c timestamp=2999-01-01T00:00:00.000Z")
	m := zoe.Expect(` MARKREAD #c timestamp=`)
	if at, err := time.Parse(timestampLayout, strings.TrimPrefix(m.Params[1], "timestamp=")); err != nil || at.After(time.Now()) {
		t.Errorf("future marker stored as %q", m.Params[1])
	}

	guest := ts.register("guest", markerCaps...)
	guest.Send("MARKREAD #c")
	guest.Expect(`^:irc.test FAIL MARKREAD ACCOUNT_REQUIRED #c `)

	off := newTestServer(t).register("off")
	off.Send("MARKREAD #c")
	off.Expect(` 421 off MARKREAD `)
}

var privmsgR = regexp.MustCompile(` PRIVMSG #r :?(m\d+)$`)

// replayed returns the texts of the PRIVMSGs to #r in lines.
func replayed(lines []string) []string {
	var out []string
	for _, l := range lines {
		if m := privmsgR.FindStringSubmatch(l); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// chatTen has bob say m1…m10 in #r, each in a millisecond of its own so
// a marker (millisecond precision) falls between two of them, and
// returns their server times.
func chatTen(ts *testServer) []string {
	bob := ts.register("bob", "server-time", "echo-message")
	bob.Join("#r")
	var times []string
	for i := 1; i <= 10; i++ {
		m := bob.say("#r", fmt.Sprintf("m%d", i))
		times = append(times, m.Tags["time"])
		time.Sleep(2 * time.Millisecond) // not a timing assertion: distinct stamps
	}
	return times
}

func msgRange(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("m%d", i))
	}
	return out
}

// expectJoinReplay joins #r as c and checks the JOIN replayed exactly
// m<from> to m<to>.
func (c *testClient) expectJoinReplay(from, to int) {
	c.T().Helper()
	if got, want := replayed(c.JoinAndSync("#r")), msgRange(from, to); !slices.Equal(got, want) {
		c.T().Errorf("%s's JOIN replayed %q, want %q", c.Nick, got, want)
	}
}

// readerAt registers the account name and marks #r read at stamp.
func (ts *testServer) readerAt(name, stamp string) *testClient {
	c := ts.registerAccount(name, personalPassword, markerCaps...)
	c.markRead("#r", stamp)
	return c
}

// TestReplaySinceRead marks the 6th of 10 messages read: a rejoin
// replays exactly the 7th to 10th, another account with no marker gets
// the usual tail, and a client without an account too.
func TestReplaySinceRead(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	times := chatTen(ts)
	ts.readerAt("zoe", times[5]).expectJoinReplay(7, 10)
	ts.registerAccount("yan", personalPassword, markerCaps...).expectJoinReplay(1, 10)
	ts.register("guest", "batch", "server-time").expectJoinReplay(1, 10)
}

// TestReplaySinceReadCapped checks the replay limit still caps what is
// unread: replay 4 and a marker at the 2nd of 10 give the 7th to 10th,
// a marker at the 8th the 9th and 10th.
func TestReplaySinceReadCapped(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts(), withConfig(func(c *config.Config) { c.Replay = 4 }))
	times := chatTen(ts)
	ts.readerAt("zoe", times[1]).expectJoinReplay(7, 10)
	ts.readerAt("yan", times[7]).expectJoinReplay(9, 10)
}

// TestNoJoinReplayWithChathistory checks a draft/chathistory client gets
// no replay on JOIN, and finds the history with CHATHISTORY instead.
func TestNoJoinReplayWithChathistory(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	chatTen(ts)
	for _, c := range []*testClient{
		ts.register("guest", fullCaps...),
		ts.registerAccount("zoe", personalPassword, append(slices.Clone(markerCaps), "draft/chathistory")...),
	} {
		if got := replayed(c.JoinAndSync("#r")); len(got) != 0 {
			t.Errorf("%s: JOIN replayed %q", c.Nick, got)
		}
		c.Send("CHATHISTORY LATEST #r * 3")
		if got, want := replayed(c.Sync()), msgRange(8, 10); !slices.Equal(got, want) {
			t.Errorf("%s: CHATHISTORY LATEST gave %q, want %q", c.Nick, got, want)
		}
	}
}

// markerSecrets are what must never be readable at rest once zoe marked
// #zebrachan and zebrapeer read at markedAt.
func markerSecrets(t *testing.T) []string {
	at, err := time.Parse(timestampLayout, markedAt)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"zebrachan", "zebrapeer", "zoezebra", markedAt[:19], strconv.FormatInt(at.UnixMilli(), 10)}
}

// markZebra marks #zebrachan and zebrapeer read as zoezebra, then shuts
// the server down so everything is stored.
func markZebra(t *testing.T, ts *testServer) {
	zoe := ts.registerAccount("zoezebra", personalPassword, markerCaps...)
	zoe.markRead("#zebrachan", markedAt)
	zoe.markRead("zebrapeer", markedAt)
	ts.shutdown()
	blobs, err := ts.store.Blobs(context.Background(), markerKind)
	if err != nil || len(blobs) != 1 {
		t.Fatalf("stored marker blobs: %d (err %v), want 1", len(blobs), err)
	}
}

// checkZebra logs in to zoezebra again and finds both markers.
func checkZebra(ts *testServer) {
	zoe := ts.loginAccount("zoe", "zoezebra", personalPassword, markerCaps...)
	zoe.expectMarker("zebrapeer", markedAt)
	zoe.Send("JOIN #zebrachan")
	zoe.Expect(`^:irc.test MARKREAD #zebrachan timestamp=` + markedAt + `$`)
}

// TestMarkersSurviveRestartRedis persists markers in a real Redis and
// restarts on it; no Redis key or value, nor the RDB file, holds a target,
// the account or the marker time in clear.
func TestMarkersSurviveRestartRedis(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t, redistest.WithArgs("--rdbcompression", "no"))
	markZebra(t, env.server(t, withAccounts()))
	env.assertNoMarker(t, markerSecrets(t))
	checkZebra(env.server(t, withAccounts()))
}

// TestMarkersSurviveRestartBolt is the same on the bbolt file.
func TestMarkersSurviveRestartBolt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "securechat.db")
	vault := newTestVault(t)
	st := openBolt(t, path)
	markZebra(t, newTestServer(t, withAccounts(), withStore(st, vault)))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	assertNoMarker(t, "bolt file", raw, markerSecrets(t))
	checkZebra(newTestServer(t, withAccounts(), withStore(openBolt(t, path), vault)))
}
