package history

import (
	"errors"
	"slices"
	"testing"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

// A redacted message leaves the store itself, even when it was still in
// the write queue when Redact was called; the others stay readable.
func TestRedactDeletesSealedRecord(t *testing.T) {
	t.Parallel()
	st := newMemory()
	h, _ := newTestHistory(t, newTestVault(t), st)
	key, t0 := h.Key("#chan"), baseTime()
	for i, id := range []string{"m1", "m2", "m3"} {
		h.AppendChannel(key, "#chan", msgEntry(t, id, t0.Add(time.Duration(i)*time.Millisecond), ":A!a@h PRIVMSG #chan :"+id))
	}
	ctx := testContext(t, 5*time.Second)
	ref := Ref{Time: t0.Add(time.Millisecond), ID: "m2"}
	e, err := h.Find(ctx, key, ref)
	if err != nil || e.Msg.Prefix.Name != "A" || e.Msg.Trailing() != "m2" {
		t.Fatalf("Find(m2) = %v, %v; want A's message m2", e, err)
	}
	if err := h.Redact(ctx, key, ref); err != nil {
		t.Fatalf("Redact: %v", err)
	}
	recs, err := st.Query(ctx, key, readAll)
	if err != nil || len(recs) != 2 || recs[0].ID != "m1" || recs[1].ID != "m3" {
		t.Fatalf("store holds %d records %v, want m1 and m3", len(recs), err)
	}
	if got, _ := h.Read(ctx, key, readAll); !equalIDs(got, []string{"m1", "m3"}) {
		t.Errorf("Read = %v, want [m1 m3]", msgIDs(got))
	}
	if err := h.Redact(ctx, key, ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Redact = %v, want ErrNotFound", err)
	}
	if _, err := h.Find(ctx, key, ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find after Redact = %v, want ErrNotFound", err)
	}
	// Redacted straight after it was queued: Redact writes the queue first.
	late := t0.Add(5 * time.Millisecond)
	h.AppendChannel(key, "#chan", msgEntry(t, "m4", late, ":A!a@h PRIVMSG #chan :m4"))
	if err := h.Redact(ctx, key, Ref{Time: late, ID: "m4"}); err != nil {
		t.Fatalf("Redact of a queued message: %v", err)
	}
	if got, _ := h.Read(ctx, key, readAll); !equalIDs(got, []string{"m1", "m3"}) {
		t.Errorf("Read = %v, want [m1 m3]", msgIDs(got))
	}
}

// A multiline message is sealed as one record and opens with its lines,
// blank and concatenated ones included, and its client tags.
func TestMultilineEntryIsOneRecord(t *testing.T) {
	t.Parallel()
	st := newMemory()
	h, _ := newTestHistory(t, newTestVault(t), st)
	key, at := h.Key("#chan"), baseTime()
	line := func(s string) *irc.Message {
		m, err := wire.Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := line("@+draft/reply=x :A!a@h PRIVMSG #chan :hello")
	lines := []*irc.Message{
		line(":A!a@h PRIVMSG #chan :hello"),
		line(":A!a@h PRIVMSG #chan :"),
		line(":A!a@h PRIVMSG #chan :how is "),
		line("@draft/multiline-concat :A!a@h PRIVMSG #chan :everyone?"),
	}
	h.AppendChannel(key, "#chan", &Entry{MsgID: "ml", At: at, Msg: first, Lines: lines})
	ctx := testContext(t, 5*time.Second)
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if recs, _ := st.Query(ctx, key, readAll); len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	got, err := h.Read(ctx, key, readAll)
	if err != nil || len(got) != 1 {
		t.Fatalf("Read = %d entries, %v; want 1", len(got), err)
	}
	e := got[0]
	if e.Msg.Tags["+draft/reply"] != "x" || e.Msg.Trailing() != "hello" {
		t.Errorf("first line %v, want hello with the client tag", e.Msg)
	}
	var want, have []string
	for i := range lines {
		want = append(want, string(wire.Line(lines[i])))
		if i < len(e.Lines) {
			have = append(have, string(wire.Line(e.Lines[i])))
		}
	}
	if !slices.Equal(have, want) {
		t.Errorf("lines = %q, want %q", have, want)
	}
}

func TestRingFindRemove(t *testing.T) {
	t.Parallel()
	var r Ring
	t0 := baseTime()
	for _, id := range []string{"a", "b", "c"} {
		r.Add(msgEntry(t, id, t0, ":A!a@h PRIVMSG #c :"+id), 10)
	}
	if e := r.Find("b"); e == nil || e.MsgID != "b" {
		t.Fatalf("Find(b) = %v", e)
	}
	if !r.Remove("b") || r.Remove("b") || r.Find("b") != nil {
		t.Fatal("Remove(b) should succeed once and leave no b")
	}
	if got := msgIDs(r.Snapshot()); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("ring = %v, want [a c]", got)
	}
}
