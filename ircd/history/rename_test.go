package history

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"securechat/store"
)

// gatedStore holds DeleteTarget until gate closes, so a test can act
// while a move is in progress.
type gatedStore struct {
	store.Store
	gate chan struct{}
}

func (g *gatedStore) DeleteTarget(ctx context.Context, key string) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Store.DeleteTarget(ctx, key)
}

// A read of the new key made while the move runs, as CHATHISTORY does
// right after flushing the queue, waits for the move and then sees the
// records appended during it.
func TestReadDuringRenameSeesHeldRecords(t *testing.T) {
	t.Parallel()
	st := &gatedStore{Store: newMemory(), gate: make(chan struct{})}
	h, _ := newTestHistory(t, newTestVault(t), st)
	oldKey, newKey := h.Key("#old"), h.Key("#new")
	t0 := baseTime().Add(-time.Minute)
	h.AppendChannel(oldKey, "#old", msgEntry(t, "m1", t0, ":a!a@h PRIVMSG #old :before"))
	if err := h.Rename(oldKey, newKey, "#old", "#new", "#new"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	h.AppendChannel(newKey, "#new", msgEntry(t, "m2", t0.Add(time.Second), ":a!a@h PRIVMSG #new :during"))
	ctx := testContext(t, 5*time.Second)
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := make(chan []*Entry, 1)
	go func() {
		entries, _ := h.Read(ctx, newKey, Query{Limit: 10})
		got <- entries
	}()
	time.Sleep(20 * time.Millisecond) // let the read start waiting
	close(st.gate)
	if entries := <-got; !equalIDs(entries, []string{"m1", "m2"}) {
		t.Fatalf("read during the move = %v, want [m1 m2]", msgIDs(entries))
	}
}

// A renamed channel's records are resealed under the new key, addressed
// to the new name, in their order; the old key keeps nothing; records
// appended during the move are held and land after the moved ones; the
// TARGETS index follows, also after a restart.
func TestRenameMovesHistory(t *testing.T) {
	t.Parallel()
	mem := newMemory()
	st := &gatedStore{Store: mem, gate: make(chan struct{})}
	v := newTestVault(t)
	h, _ := newTestHistory(t, v, st)
	oldKey, newKey := h.Key("#old"), h.Key("#new")
	t0 := baseTime().Add(-time.Minute)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for i, id := range []string{"m1", "m2", "m3"} {
		h.AppendChannel(oldKey, "#old", msgEntry(t, id, at(i), ":a!a@h PRIVMSG #Old :secret text "+id))
	}
	if err := h.Rename(oldKey, newKey, "#old", "#new", "#New"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	if err := h.Rename(newKey, h.Key("#third"), "#new", "#third", "#third"); !errors.Is(err, ErrMoving) {
		t.Errorf("second rename during the move = %v, want ErrMoving", err)
	}
	// During the move: the renamed channel goes on, and a new channel
	// takes the old name.
	h.AppendChannel(newKey, "#new", msgEntry(t, "m4", at(4), ":a!a@h PRIVMSG #New :after the rename"))
	h.AppendChannel(oldKey, "#old", msgEntry(t, "o1", at(5), ":b!b@h PRIVMSG #old :a new #old"))
	close(st.gate)
	ctx := testContext(t, 5*time.Second)
	if err := h.moves.waitAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	got, err := h.Read(ctx, newKey, Query{Limit: 10})
	if err != nil || !equalIDs(got, []string{"m1", "m2", "m3", "m4"}) {
		t.Fatalf("new key = %v, %v; want [m1 m2 m3 m4]", msgIDs(got), err)
	}
	for _, e := range got {
		if e.Msg.Params[0] != "#New" {
			t.Errorf("%s is addressed to %q, want #New", e.MsgID, e.Msg.Params[0])
		}
	}
	if old, err := h.Read(ctx, oldKey, Query{Limit: 10}); err != nil || !equalIDs(old, []string{"o1"}) {
		t.Errorf("old key = %v, %v; want only the new #old's o1", msgIDs(old), err)
	}
	raw, _ := mem.Query(ctx, newKey, Query{Limit: 10})
	for _, r := range raw {
		if bytes.Contains(r.Data, []byte("secret")) || bytes.Contains(r.Data, []byte("#New")) {
			t.Fatalf("record %s reached the store in the clear", r.ID)
		}
	}

	lo, hi := t0.Add(-time.Hour), t0.Add(time.Hour)
	if got := h.Targets([]string{"#new"}, lo, hi); len(got) != 1 || got[0].Name != "#New" {
		t.Errorf("Targets(#new) = %v, want #New", got)
	}
	closeHistory(t, h)
	again, _ := newTestHistory(t, v, mem)
	eventually(t, "the warm-up to index the renamed channel", func() bool {
		got := again.Targets([]string{"#new"}, lo, hi)
		return len(got) == 1 && got[0].Name == "#New"
	})
}

// A move copies every page, not just the first.
func TestRenameMovesManyPages(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	mem := newMemory()
	h, _ := newTestHistory(t, v, mem)
	oldKey, newKey := h.Key("#a"), h.Key("#b")
	ctx := testContext(t, 10*time.Second)
	t0 := baseTime().Add(-time.Hour)
	const n = movePage*2 + 7
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		id := "r" + itoa(i)
		if err := mem.Append(ctx, oldKey, sealedRecord(t, v, oldKey, id, at, ":a!a@h PRIVMSG #a :"+id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Rename(oldKey, newKey, "#a", "#b", "#b"); err != nil {
		t.Fatal(err)
	}
	if err := h.moves.waitAll(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := h.Read(ctx, newKey, Query{Limit: n + 10})
	if err != nil || len(got) != n || got[n-1].MsgID != "r"+itoa(n-1) {
		t.Fatalf("moved %d records (%v), want %d", len(got), err, n)
	}
	if ok, _ := h.HasHistory(ctx, oldKey); ok {
		t.Error("the old key still has history")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
