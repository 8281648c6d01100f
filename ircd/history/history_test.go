package history

import (
	"slices"
	"testing"
	"time"

	"securechat/crypto"
	"securechat/metrics"
	"securechat/store"
)

var readAll = store.Query{Limit: 100}

// Records whose sealed bytes were changed in the store are skipped and
// counted; the rest still read.
func TestReadSkipsTamperedRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		at   func(data []byte) int // which byte of the middle record to flip
	}{
		{"version", func([]byte) int { return 0 }},
		{"key id", func([]byte) int { return 4 }},
		{"nonce", func([]byte) int { return 10 }},
		{"ciphertext", func(d []byte) int { return len(d) / 2 }},
		{"tag", func(d []byte) int { return len(d) - 1 }},
	}
	v := newTestVault(t)
	src := newMemory()
	writer, _ := newTestHistory(t, v, src)
	key, t0 := writer.Key("#chan"), baseTime()
	for i, id := range []string{"m1", "m2", "m3"} {
		writer.AppendChannel(key, "#chan", msgEntry(t, id, t0.Add(time.Duration(i)*time.Millisecond), ":A!a@h PRIVMSG #chan :"+id))
	}
	ctx := testContext(t, 5*time.Second)
	if err := writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := src.Query(ctx, key, readAll)
	if err != nil || len(recs) != 3 {
		t.Fatalf("stored %d records, %v; want 3", len(recs), err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stored := slices.Clone(recs)
			stored[1].Data = slices.Clone(stored[1].Data)
			stored[1].Data[tt.at(stored[1].Data)] ^= 0x01
			expectRead(t, v, key, stored, []string{"m1", "m3"}, 1)
		})
	}
}

// expectRead stores recs under key in a new store and checks that a
// History over it reads back the records want, counting openErrors
// records that do not open.
func expectRead(t *testing.T, v *crypto.Vault, key string, recs []store.Record, want []string, openErrors float64) {
	t.Helper()
	st := newMemory()
	ctx := testContext(t, 5*time.Second)
	for _, r := range recs {
		if err := st.Append(ctx, key, r); err != nil {
			t.Fatal(err)
		}
	}
	h, m := newTestHistory(t, v, st)
	got, err := h.Read(ctx, key, readAll)
	if err != nil {
		t.Fatal(err)
	}
	if !equalIDs(got, want) {
		t.Fatalf("read %v, want %v", msgIDs(got), want)
	}
	if n := errorCount(t, m, metrics.OpOpen); n != openErrors {
		t.Fatalf("HistoryErrors{open} = %v, want %v", n, openErrors)
	}
}

func TestReadDropsRepeatedRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stored []string // msgids in store order
		want   []string
	}{
		{"no repeats", []string{"a", "b", "c"}, []string{"a", "b", "c"}},
		{"one repeated", []string{"a", "b", "b", "c"}, []string{"a", "b", "c"}},
		{"repeated thrice", []string{"a", "a", "a"}, []string{"a"}},
		{"first and last repeated", []string{"a", "a", "b", "c", "c"}, []string{"a", "b", "c"}},
	}
	v := newTestVault(t)
	key, t0 := v.TargetKey("#chan"), baseTime()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sealed := map[string]store.Record{}
			var stored []store.Record
			for i, id := range tt.stored {
				r, ok := sealed[id]
				if !ok {
					// A retried write stores the same sealed record again.
					r = sealedRecord(t, v, key, id, t0.Add(time.Duration(i)*time.Millisecond), "PRIVMSG #chan :"+id)
					sealed[id] = r
				}
				stored = append(stored, r)
			}
			expectRead(t, v, key, stored, tt.want, 0)
		})
	}
}

// Entry times finer than the store's millisecond must not make a record
// unreadable.
func TestAppendedEntriesReadBack(t *testing.T) {
	t.Parallel()
	t0 := baseTime()
	tests := []struct {
		name string
		at   time.Time
	}{
		{"millisecond time", t0},
		{"nanosecond time", t0.Add(123456 * time.Nanosecond)},
		{"time with a monotonic reading", time.Now()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, m := newTestHistory(t, newTestVault(t), newMemory())
			ctx := testContext(t, 5*time.Second)
			key := h.Key("#chan")
			h.AppendChannel(key, "#chan", msgEntry(t, "c1", tt.at, ":A!a@h PRIVMSG #chan :channel"))
			h.AppendDirect(Party{Nick: "alice"}, Party{Nick: "bob"}, msgEntry(t, "d1", tt.at, ":Alice!a@h PRIVMSG bob :direct"))
			if err := h.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]string{key: "c1", h.DirectKey("bob", "alice"): "d1"} {
				got, err := h.Read(ctx, key, readAll)
				if err != nil {
					t.Fatal(err)
				}
				if !equalIDs(got, []string{want}) || !got[0].At.Equal(tt.at.Truncate(time.Millisecond)) {
					t.Fatalf("read %v, want %s at %v", got, want, tt.at.Truncate(time.Millisecond))
				}
			}
			if n := errorCount(t, m, metrics.OpOpen); n != 0 {
				t.Fatalf("HistoryErrors{open} = %v, want 0", n)
			}
		})
	}
}
