package ircd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/irc.v4"

	"securechat/config"
	"securechat/store"
)

var multilineCaps = []string{"batch", "draft/multiline", "message-tags", "server-time", "echo-message", "labeled-response", "draft/chathistory"}

// sendMultiline sends a draft/multiline batch of lines to target: each
// line is "text", or "+text" for a draft/multiline-concat line. open is
// prepended to the opening BATCH line (tags, with their @).
func (c *testClient) sendMultiline(ref, open, target string, lines ...string) {
	c.T().Helper()
	c.Send("%sBATCH +%s draft/multiline %s", open, ref, target)
	for _, l := range lines {
		if text, concat := strings.CutPrefix(l, "+"); concat {
			c.Send("@batch=%s;draft/multiline-concat PRIVMSG %s :%s", ref, target, text)
		} else {
			c.Send("@batch=%s PRIVMSG %s :%s", ref, target, l)
		}
	}
	c.Send("BATCH -%s", ref)
}

// multilineBatch reads up to the next draft/multiline batch and returns
// its opening line and the lines inside, checking each carries its tag.
func (c *testClient) multilineBatch() (*irc.Message, []*irc.Message) {
	c.T().Helper()
	open := c.Expect(`BATCH \+\S+ draft/multiline `)
	ref := strings.TrimPrefix(open.Params[0], "+")
	var lines []*irc.Message
	for {
		m := c.Expect(`.`)
		if m.Command == "BATCH" && m.Params[0] == "-"+ref {
			return open, lines
		}
		if m.Tags["batch"] != ref {
			c.T().Fatalf("%s: line inside multiline batch %s lacks its tag: %v", c.Nick, ref, m)
		}
		lines = append(lines, m)
	}
}

// shape renders lines as "text", "+text" for concatenated ones, for
// comparing a batch with what was sent.
func shape(lines []*irc.Message) []string {
	out := make([]string, len(lines))
	for i, m := range lines {
		out[i] = m.Trailing()
		if _, concat := m.Tags["draft/multiline-concat"]; concat {
			out[i] = "+" + out[i]
		}
	}
	return out
}

var sentLines = []string{"hello", "", "how is ", "+everyone?"}

// A multiline batch reaches capable members as one batch with one msgid
// on its BATCH line, the sender's echo labeled on that line only; others
// get its non-blank lines, the msgid on the first only.
func TestMultilineRelay(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", multilineCaps...)
	bob := ts.register("bob", "batch", "draft/multiline", "message-tags")
	tags := ts.register("tags", "message-tags")
	plain := ts.register("plain")
	for _, c := range []*testClient{alice, bob, tags, plain} {
		c.Join("#m")
	}
	alice.sendMultiline("r1", "@label=L;+draft/reply=abc ", "#m", sentLines...)

	echo, echoLines := alice.multilineBatch()
	if echo.Tags["label"] != "L" || echo.Tags["msgid"] == "" || echo.Tags["time"] == "" || echo.Tags["+draft/reply"] != "abc" {
		t.Fatalf("echo BATCH line %v, want label, msgid, time and the client tag", echo)
	}
	msgid := echo.Tags["msgid"]
	for _, l := range echoLines {
		if l.Tags["label"] != "" || l.Tags["msgid"] != "" {
			t.Errorf("line inside the echo carries a label or msgid: %v", l)
		}
	}
	if got := shape(echoLines); !slices.Equal(got, sentLines) {
		t.Errorf("echo lines = %q, want %q", got, sentLines)
	}

	open, lines := bob.multilineBatch()
	if open.Tags["msgid"] != msgid || open.Prefix.Name != "alice" || open.Params[2] != "#m" || open.Tags["+draft/reply"] != "abc" {
		t.Errorf("bob's BATCH line %v, want alice's batch to #m with msgid %s", open, msgid)
	}
	if got := shape(lines); !slices.Equal(got, sentLines) {
		t.Errorf("bob's lines = %q, want %q", got, sentLines)
	}
	for _, l := range lines {
		if l.Prefix.Name != "alice" || l.Command != "PRIVMSG" || l.Params[0] != "#m" {
			t.Errorf("bob's line %v, want alice's PRIVMSG to #m", l)
		}
	}

	first := tags.Expect(`PRIVMSG #m :?hello$`)
	second := tags.Expect(`PRIVMSG #m :how is $`)
	third := tags.Expect(`PRIVMSG #m :?everyone\?$`)
	if first.Tags["msgid"] != msgid || first.Tags["+draft/reply"] != "abc" || second.Tags["msgid"] != "" || third.Tags["msgid"] != "" {
		t.Errorf("fallback msgids %q %q %q, want %s on the first line only", first.Tags["msgid"], second.Tags["msgid"], third.Tags["msgid"], msgid)
	}
	_, skipped := plain.ExpectAfter(`PRIVMSG #m :?everyone\?$`)
	for _, l := range slices.Concat(skipped, plain.Sync(), tags.Sync()) {
		if strings.Contains(l, "BATCH") || strings.HasSuffix(l, "#m :") {
			t.Errorf("a client without multiline got %q", l)
		}
	}
}

// A multiline message is one sealed record, whose text never reaches the
// store in the clear, and is replayed on JOIN and CHATHISTORY as one
// batch, or as plain lines to clients without the capability. The second
// server reads it back from Redis with a cold replay ring.
func TestMultilineStoredAndReplayed(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t)
	ts := env.server(t)
	alice := ts.register("alice", multilineCaps...)
	alice.Join("#h")
	lines := []string{"mlqz7 one", "", "mlqz7 two ", "+mlqz7 three"}
	alice.sendMultiline("s", "", "#h", lines...)
	open, _ := alice.multilineBatch()
	msgid := open.Tags["msgid"]
	alice.say("#h", "after")
	ts.flushHistory()
	recs, err := env.store.Query(context.Background(), ts.srv.history.Key("#h"), store.Query{Limit: 10})
	if err != nil || len(recs) != 2 || recs[0].ID != msgid {
		t.Fatalf("stored %d records (%v), want the batch as one record then one line", len(recs), err)
	}
	for key, value := range dumpRedis(t, env.redis.Client()) {
		assertNoMarker(t, "value of "+key, value, []string{"mlqz7"})
	}

	for _, srv := range []*testServer{ts, env.server(t)} {
		joiner := srv.register("joiner", "batch", "draft/multiline", "message-tags", "server-time")
		joiner.Join("#h")
		for _, how := range []string{"JOIN", "CHATHISTORY"} {
			if how == "CHATHISTORY" {
				joiner.Send("CHATHISTORY LATEST #h * 10")
			}
			outer := joiner.Expect(`BATCH \+\S+ chathistory #h`)
			open, got := joiner.multilineBatch()
			if open.Tags["batch"] != strings.TrimPrefix(outer.Params[0], "+") || open.Tags["msgid"] != msgid {
				t.Errorf("%s: multiline BATCH line %v, want msgid %s inside the chathistory batch", how, open, msgid)
			}
			if !slices.Equal(shape(got), lines) {
				t.Errorf("%s: replayed lines %q, want %q", how, shape(got), lines)
			}
			joiner.Expect(`PRIVMSG #h :?after$`)
		}
		plain := srv.register("plain2", "batch", "message-tags", "server-time")
		plain.Join("#h")
		for _, want := range []string{"mlqz7 one", "mlqz7 two ", "mlqz7 three", "after"} {
			m := plain.Expect(`PRIVMSG #h `)
			if m.Trailing() != want || (want == "mlqz7 one") != (m.Tags["msgid"] == msgid) {
				t.Errorf("plain replay line %v, want %q with msgid %s on the first line only", m, want, msgid)
			}
		}
	}
}

// A multiline batch to a nick reaches it as one batch.
func TestMultilineDirect(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", multilineCaps...)
	bob := ts.register("bob", "batch", "draft/multiline")
	alice.sendMultiline("d", "", "bob", "one", "two")
	open, lines := bob.multilineBatch()
	if open.Params[2] != "bob" || !slices.Equal(shape(lines), []string{"one", "two"}) {
		t.Errorf("bob got %v %q, want a batch to bob of one, two", open, shape(lines))
	}
}

// Every malformed batch is refused with the FAIL the specification names,
// labeled as its opening line was, and nothing of it is relayed; the
// client can send normally afterwards.
func TestMultilineErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", multilineCaps...)
	peer := ts.register("peer", "batch", "draft/multiline")
	nocap := ts.register("nocap", "batch", "labeled-response")
	for _, c := range []*testClient{alice, peer, nocap} {
		c.Join("#e")
	}
	long := strings.Repeat("x", 400)
	cases := []struct {
		name  string
		c     *testClient
		lines []string // sent as they are
		want  string
	}{
		{"too many lines", alice, slices.Concat([]string{"BATCH +a draft/multiline #e"},
			slices.Repeat([]string{"@batch=a PRIVMSG #e :l"}, 33), []string{"BATCH -a"}),
			` FAIL BATCH MULTILINE_MAX_LINES 32 `},
		{"too many bytes", alice, slices.Concat([]string{"BATCH +b draft/multiline #e"},
			slices.Repeat([]string{"@batch=b PRIVMSG #e :" + long}, 11), []string{"BATCH -b"}),
			` FAIL BATCH MULTILINE_MAX_BYTES 4096 `},
		{"another target", alice, []string{"@label=T BATCH +c draft/multiline #e", "@batch=c PRIVMSG #other :hi", "BATCH -c"},
			`^@label=T :irc\.test FAIL BATCH MULTILINE_INVALID_TARGET #e #other `},
		{"concat on a blank line", alice, []string{"BATCH +d draft/multiline #e", "@batch=d PRIVMSG #e :a", "@batch=d;draft/multiline-concat PRIVMSG #e :", "BATCH -d"},
			` FAIL BATCH MULTILINE_INVALID `},
		{"only blank lines", alice, []string{"BATCH +e draft/multiline #e", "@batch=e PRIVMSG #e :", "BATCH -e"},
			` FAIL BATCH MULTILINE_INVALID `},
		{"closing an unknown batch", alice, []string{"BATCH -nope"}, ` FAIL BATCH MULTILINE_INVALID `},
		{"an unknown batch type", alice, []string{"BATCH +f other/type #e"}, ` FAIL BATCH MULTILINE_INVALID `},
		{"without the capability", nocap, []string{"@label=N BATCH +g draft/multiline #e", "@batch=g PRIVMSG #e :leak", "BATCH -g"},
			`^@label=N :irc\.test FAIL BATCH MULTILINE_INVALID `},
	}
	for _, tc := range cases {
		for _, l := range tc.lines {
			tc.c.Send("%s", l)
		}
		tc.c.Expect(tc.want)
		tc.c.Sync()
	}
	alice.Send("PRIVMSG #e :fine")
	_, skipped := peer.ExpectAfter(`PRIVMSG #e :?fine$`)
	for _, l := range skipped {
		if strings.Contains(l, "PRIVMSG") || strings.Contains(l, "BATCH") {
			t.Errorf("peer got %q from a refused batch", l)
		}
	}
}

// A labeled batch whose sender has no echo-message is answered with one
// labeled ACK, not an ACK for its opening line.
func TestMultilineLabeledAck(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.register("noecho", "batch", "draft/multiline", "labeled-response")
	c.Join("#a")
	c.sendMultiline("x", "@label=Q ", "#a", "one", "two")
	lines := c.Sync()
	acks := 0
	for _, l := range lines {
		if strings.Contains(l, "ACK") {
			acks++
			if !strings.HasPrefix(l, "@label=Q ") {
				t.Errorf("ACK %q lacks the label", l)
			}
		}
	}
	if acks != 1 {
		t.Errorf("got %d ACKs in %q, want 1", acks, lines)
	}
}

// multilineWire is a batch of n lines to target as one write, so the
// lines wait in the socket together as a client's burst does.
func multilineWire(ref, target string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "BATCH +%s draft/multiline %s\r\n", ref, target)
	for i := range n {
		fmt.Fprintf(&b, "@batch=%s PRIVMSG %s :line %d\r\n", ref, target, i)
	}
	fmt.Fprintf(&b, "BATCH -%s\r\n", ref)
	return b.String()
}

// TestMultilineFloodControl: flood control counts a draft/multiline batch
// as the one message it is, so a full batch from a client at rest is
// relayed at once, while a client flooding with ordinary lines, or with
// batches, is still cut off.
func TestMultilineFloodControl(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) { cfg.FloodRate, cfg.FloodBurst = 5, 5 }))
	alice := ts.register("alice", multilineCaps...)
	bob := ts.register("bob", "batch", "draft/multiline", "message-tags")
	alice.Join("#m")
	bob.Join("#m")
	time.Sleep(1200 * time.Millisecond) // at rest: a full bucket of 5

	start := time.Now()
	alice.SendRaw(multilineWire("big", "#m", multilineMaxLines))
	_, lines := bob.multilineBatch()
	if d := time.Since(start); d > 500*time.Millisecond || len(lines) != multilineMaxLines {
		t.Fatalf("a %d-line batch from a client at rest: %d lines relayed after %v, want all at once",
			multilineMaxLines, len(lines), d)
	}

	t.Run("ordinary lines", func(t *testing.T) {
		flood := ts.register("flood")
		flood.Join("#m")
		flood.SendRaw(strings.Repeat("PRIVMSG #m :flood\r\n", multilineMaxLines+2))
		expectExcessFlood(t, flood)
	})
	t.Run("batches", func(t *testing.T) {
		var b strings.Builder
		for i := range 40 {
			b.WriteString(multilineWire(fmt.Sprint("r", i), "#m", 1))
		}
		alice.SendRaw(b.String())
		expectExcessFlood(t, &testClient{alice.WithT(t)})
	})
}

func expectExcessFlood(t *testing.T, c *testClient) {
	t.Helper()
	lines := c.ExpectClosed()
	if len(lines) == 0 || !strings.HasSuffix(lines[len(lines)-1], "[Excess Flood]") {
		t.Fatalf("last lines %q, want ERROR ... Excess Flood", lines[max(0, len(lines)-2):])
	}
}
