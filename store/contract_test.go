package store

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"
)

// t0 is an arbitrary base time; contract records sit a few ms after it.
var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// testStore is the contract both backends must pass. newStore returns an
// empty store configured by opts that the test may use in parallel.
func testStore(t *testing.T, newStore func(t *testing.T, opts Options) Store) {
	t.Run("Query", func(t *testing.T) { t.Parallel(); testQuery(t, newStore(t, Options{})) })
	t.Run("QuerySameMsPaging", func(t *testing.T) { t.Parallel(); testSameMsPaging(t, newStore(t, Options{})) })
	t.Run("RecordRoundTrip", func(t *testing.T) { t.Parallel(); testRecordRoundTrip(t, newStore(t, Options{})) })
	t.Run("ClockBack", func(t *testing.T) { t.Parallel(); testClockBack(t, newStore(t, Options{})) })
	t.Run("Targets", func(t *testing.T) { t.Parallel(); testTargets(t, newStore(t, Options{})) })
	t.Run("TargetsFromBatch", func(t *testing.T) { t.Parallel(); testTargetsFromBatch(t, newStore(t, Options{})) })
	t.Run("TrimBefore", func(t *testing.T) { t.Parallel(); testTrimBefore(t, newStore(t, Options{})) })
	t.Run("DeleteTarget", func(t *testing.T) { t.Parallel(); testDeleteTarget(t, newStore(t, Options{})) })
	t.Run("Delete", func(t *testing.T) { t.Parallel(); testDelete(t, newStore(t, Options{})) })
	t.Run("MaxLen", func(t *testing.T) { t.Parallel(); testMaxLen(t, newStore(t, Options{MaxLen: 10})) })
	t.Run("Keyring", func(t *testing.T) { t.Parallel(); testKeyring(t, newStore(t, Options{})) })
	t.Run("ChannelStates", func(t *testing.T) { t.Parallel(); testChannelStates(t, newStore(t, Options{})) })
	t.Run("Blobs", func(t *testing.T) { t.Parallel(); testBlobs(t, newStore(t, Options{})) })
	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		if err := newStore(t, Options{}).Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func mustAppend(t *testing.T, s Store, key string, recs ...Record) {
	t.Helper()
	for _, r := range recs {
		if err := s.Append(t.Context(), key, r); err != nil {
			t.Fatalf("Append(%q, %s): %v", key, r.ID, err)
		}
	}
}

func mustQuery(t *testing.T, s Store, key string, q Query) []Record {
	t.Helper()
	recs, err := s.Query(t.Context(), key, q)
	if err != nil {
		t.Fatalf("Query(%q, %+v): %v", key, q, err)
	}
	return recs
}

func ids(recs []Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func ref(ms int, id string) *Ref { return &Ref{Time: at(ms), ID: id} }

// testQuery covers bounds, directions and limits on a log where b, c and d
// share a millisecond:
//
//	ms: 1  2  2  2  3  5
//	    a  b  c  d  e  f
func testQuery(t *testing.T, s Store) {
	for i, id := range []string{"a", "b", "c", "d", "e", "f"} {
		ms := []int{1, 2, 2, 2, 3, 5}[i]
		mustAppend(t, s, "k", Record{ID: id, Time: at(ms), Data: []byte("data-" + id)})
	}
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"latest all", Query{Limit: 10, FromNewest: true}, []string{"a", "b", "c", "d", "e", "f"}},
		{"latest two", Query{Limit: 2, FromNewest: true}, []string{"e", "f"}},
		{"oldest two", Query{Limit: 2}, []string{"a", "b"}},
		{"limit zero", Query{Limit: 0, FromNewest: true}, []string{}},
		{"negative limit", Query{Limit: -1}, []string{}},
		{"before ms", Query{Before: ref(2, ""), Limit: 10}, []string{"a"}},
		{"before ms newest", Query{Before: ref(3, ""), Limit: 2, FromNewest: true}, []string{"c", "d"}},
		{"after ms", Query{After: ref(2, ""), Limit: 10}, []string{"e", "f"}},
		{"after ms oldest one", Query{After: ref(1, ""), Limit: 1}, []string{"b"}},
		{"after first in ms", Query{After: ref(2, "b"), Limit: 10}, []string{"c", "d", "e", "f"}},
		{"after middle in ms", Query{After: ref(2, "c"), Limit: 10}, []string{"d", "e", "f"}},
		{"after id limited", Query{After: ref(2, "b"), Limit: 2}, []string{"c", "d"}},
		{"after id newest", Query{After: ref(2, "b"), Limit: 1, FromNewest: true}, []string{"f"}},
		{"after unknown id", Query{After: ref(2, "zz"), Limit: 10}, []string{"e", "f"}},
		{"after unknown id newest", Query{After: ref(2, "zz"), Limit: 10, FromNewest: true}, []string{"e", "f"}},
		{"after last id", Query{After: ref(5, "f"), Limit: 10}, []string{}},
		{"before middle in ms", Query{Before: ref(2, "c"), Limit: 10}, []string{"a", "b"}},
		{"before last in ms newest", Query{Before: ref(2, "d"), Limit: 2, FromNewest: true}, []string{"b", "c"}},
		{"before last in ms newest one", Query{Before: ref(2, "d"), Limit: 1, FromNewest: true}, []string{"c"}},
		{"before id oldest limited", Query{After: ref(1, ""), Before: ref(2, "d"), Limit: 1}, []string{"b"}},
		{"before unknown id", Query{Before: ref(2, "zz"), Limit: 10}, []string{"a"}},
		{"before unknown id newest", Query{Before: ref(2, "zz"), Limit: 10, FromNewest: true}, []string{"a"}},
		{"before unknown id only ms", Query{After: ref(1, ""), Before: ref(2, "zz"), Limit: 10}, []string{}},
		{"before other ms id", Query{Before: ref(3, "e"), Limit: 3}, []string{"a", "b", "c"}},
		{"before first id", Query{Before: ref(1, "a"), Limit: 10, FromNewest: true}, []string{}},
		{"between ids same ms", Query{After: ref(2, "b"), Before: ref(2, "d"), Limit: 10}, []string{"c"}},
		{"between ids same ms newest", Query{After: ref(2, "b"), Before: ref(2, "d"), Limit: 10, FromNewest: true}, []string{"c"}},
		{"between inverted ids", Query{After: ref(2, "d"), Before: ref(2, "b"), Limit: 10}, []string{}},
		{"between ms", Query{After: ref(1, ""), Before: ref(5, ""), Limit: 10}, []string{"b", "c", "d", "e"}},
		{"between ms newest", Query{After: ref(1, ""), Before: ref(5, ""), Limit: 2, FromNewest: true}, []string{"d", "e"}},
		{"between ms oldest", Query{After: ref(1, ""), Before: ref(5, ""), Limit: 2}, []string{"b", "c"}},
		{"between same ms", Query{After: ref(2, ""), Before: ref(2, ""), Limit: 10}, []string{}},
		{"between adjacent ms", Query{After: ref(2, ""), Before: ref(3, ""), Limit: 10}, []string{}},
		{"between ids across ms", Query{After: ref(1, "a"), Before: ref(3, "e"), Limit: 10}, []string{"b", "c", "d"}},
		{"after all", Query{After: ref(5, ""), Limit: 10}, []string{}},
		{"before all", Query{Before: ref(1, ""), Limit: 10, FromNewest: true}, []string{}},
		{"before epoch", Query{Before: &Ref{Time: time.Unix(0, 0)}, Limit: 10}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(mustQuery(t, s, "k", tt.q))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("empty key", func(t *testing.T) {
		if got := mustQuery(t, s, "nobody", Query{Limit: 10, FromNewest: true}); len(got) != 0 {
			t.Errorf("got %v, want none", ids(got))
		}
	})
}

// testSameMsPaging puts more records in one millisecond than Redis reads
// in a first page, so that skipping to an ID bound must page.
func testSameMsPaging(t *testing.T, s Store) {
	const n = 60
	for i := range n {
		mustAppend(t, s, "k", Record{ID: strconv.Itoa(i), Time: at(7)})
	}
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"before deep id newest", Query{Before: ref(7, "40"), Limit: 3, FromNewest: true}, []string{"37", "38", "39"}},
		{"after deep id", Query{After: ref(7, "20"), Limit: 3}, []string{"21", "22", "23"}},
		{"before deep id oldest", Query{Before: ref(7, "50"), Limit: 2}, []string{"0", "1"}},
		{"after deep id newest", Query{After: ref(7, "55"), Limit: 10, FromNewest: true}, []string{"56", "57", "58", "59"}},
		{"between ids", Query{After: ref(7, "30"), Before: ref(7, "33"), Limit: 10}, []string{"31", "32"}},
		{"before unknown", Query{Before: ref(7, "x"), Limit: 5}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(mustQuery(t, s, "k", tt.q)); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func testRecordRoundTrip(t *testing.T, s Store) {
	in := []Record{
		{ID: "bin", Time: at(1).Add(999 * time.Microsecond), Data: []byte{0, 1, 0xfe, 0xff, '\r', '\n'}},
		{ID: "empty", Time: at(2).In(time.FixedZone("X", 3600)), Data: []byte{}},
	}
	mustAppend(t, s, "k\x00with\xffbytes", in...)
	got := mustQuery(t, s, "k\x00with\xffbytes", Query{Limit: 10, FromNewest: true})
	if len(got) != len(in) {
		t.Fatalf("got %d records, want %d", len(got), len(in))
	}
	for i, r := range got {
		want := in[i].Time.Truncate(time.Millisecond)
		if r.ID != in[i].ID || !bytes.Equal(r.Data, in[i].Data) || !r.Time.Equal(want) {
			t.Errorf("record %d = %+v, want %+v at %v", i, r, in[i], want)
		}
		if r.Time.Location() != time.UTC {
			t.Errorf("record %d time in %v, want UTC", i, r.Time.Location())
		}
	}
	if err := s.Append(t.Context(), "k", Record{ID: "old", Time: time.Time{}}); err == nil {
		t.Error("Append with zero time succeeded, want an error")
	}
}

// testClockBack appends a record older than the newest one: it must read
// back in append order with its own time.
func testClockBack(t *testing.T, s Store) {
	mustAppend(t, s, "k", Record{ID: "x", Time: at(50)}, Record{ID: "y", Time: at(30)})
	got := mustQuery(t, s, "k", Query{Limit: 10, FromNewest: true})
	if !slices.Equal(ids(got), []string{"x", "y"}) {
		t.Fatalf("got %v, want [x y]", ids(got))
	}
	if !got[1].Time.Equal(at(30)) {
		t.Errorf("y time = %v, want %v", got[1].Time, at(30))
	}
	// After y is what is newer than y, never y itself, though it was
	// appended at x's millisecond.
	after := mustQuery(t, s, "k", Query{After: &Ref{Time: at(30), ID: "y"}, Limit: 10})
	if !slices.Equal(ids(after), []string{"x"}) {
		t.Errorf("after y: got %v, want [x]", ids(after))
	}
}

func testTargets(t *testing.T, s Store) {
	mustAppend(t, s, "x", Record{ID: "1", Time: at(10)})
	mustAppend(t, s, "y", Record{ID: "2", Time: at(5)}, Record{ID: "3", Time: at(20)})
	mustAppend(t, s, "z", Record{ID: "4", Time: at(30)})
	tests := []struct {
		name          string
		after, before time.Time
		limit         int
		want          []string
	}{
		{"all", at(0), at(100), 10, []string{"z", "y", "x"}},
		{"limited", at(0), at(100), 2, []string{"z", "y"}},
		{"zero limit", at(0), at(100), 0, []string{}},
		{"after exclusive", at(20), at(100), 10, []string{"z"}},
		{"before exclusive", at(0), at(20), 10, []string{"x"}},
		{"latest only counts", at(0), at(6), 10, []string{}},
		{"unbounded", time.Time{}, time.Time{}, 10, []string{"z", "y", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Targets(t.Context(), tt.after, tt.before, tt.limit)
			if err != nil {
				t.Fatalf("Targets: %v", err)
			}
			keys := []string{}
			for _, g := range got {
				keys = append(keys, g.Key)
			}
			if !slices.Equal(keys, tt.want) {
				t.Errorf("got %v, want %v", keys, tt.want)
			}
		})
	}
	got, _ := s.Targets(t.Context(), time.Time{}, time.Time{}, 1)
	if len(got) != 1 || !got[0].Latest.Equal(at(30)) {
		t.Errorf("newest target = %+v, want z at %v", got, at(30))
	}
}

// testTargetsFromBatch: records of several keys written in one batch (as
// the write-behind queue does) leave each key's latest time in the index.
func testTargetsFromBatch(t *testing.T, s Store) {
	batch := []KeyedRecord{
		{Key: "y", Record: Record{ID: "1", Time: at(5)}},
		{Key: "x", Record: Record{ID: "2", Time: at(10)}},
		{Key: "y", Record: Record{ID: "3", Time: at(20)}},
		{Key: "x", Record: Record{ID: "4", Time: at(15)}},
	}
	if b, ok := s.(BatchAppender); ok {
		if err := b.AppendBatch(t.Context(), batch); err != nil {
			t.Fatalf("AppendBatch: %v", err)
		}
	} else {
		for _, kr := range batch {
			mustAppend(t, s, kr.Key, kr.Record)
		}
	}
	got, err := s.Targets(t.Context(), time.Time{}, time.Time{}, 10)
	if err != nil {
		t.Fatalf("Targets: %v", err)
	}
	if len(got) != 2 || got[0].Key != "y" || !got[0].Latest.Equal(at(20)) || got[1].Key != "x" || !got[1].Latest.Equal(at(15)) {
		t.Errorf("targets %+v, want y at 20 ms then x at 15 ms", got)
	}
}

func testTrimBefore(t *testing.T, s Store) {
	mustAppend(t, s, "p", Record{ID: "p1", Time: at(1)}, Record{ID: "p2", Time: at(2)}, Record{ID: "p3", Time: at(3)})
	mustAppend(t, s, "q", Record{ID: "q1", Time: at(1)})
	if err := s.TrimBefore(t.Context(), at(2)); err != nil {
		t.Fatalf("TrimBefore: %v", err)
	}
	if got := ids(mustQuery(t, s, "p", Query{Limit: 10})); !slices.Equal(got, []string{"p2", "p3"}) {
		t.Errorf("p = %v, want [p2 p3]", got)
	}
	if got := mustQuery(t, s, "q", Query{Limit: 10}); len(got) != 0 {
		t.Errorf("q = %v, want none", ids(got))
	}
	targets, err := s.Targets(t.Context(), time.Time{}, time.Time{}, 10)
	if err != nil || len(targets) != 1 || targets[0].Key != "p" {
		t.Errorf("Targets after trim = %+v, %v; want only p", targets, err)
	}
	mustAppend(t, s, "q", Record{ID: "q2", Time: at(4)})
	if got := ids(mustQuery(t, s, "q", Query{Limit: 10})); !slices.Equal(got, []string{"q2"}) {
		t.Errorf("q after new append = %v, want [q2]", got)
	}
}

// testDeleteTarget checks that deleting one key's history removes its
// records and its Targets entry, leaves other keys alone, tolerates an
// absent key, and that the key can be written afresh afterwards.
func testDeleteTarget(t *testing.T, s Store) {
	mustAppend(t, s, "gone", Record{ID: "g1", Time: at(1), Data: []byte("x")}, Record{ID: "g2", Time: at(5)})
	mustAppend(t, s, "kept", Record{ID: "k1", Time: at(2)})
	for _, key := range []string{"gone", "never-written"} {
		if err := s.DeleteTarget(t.Context(), key); err != nil {
			t.Fatalf("DeleteTarget(%q): %v", key, err)
		}
	}
	if got := mustQuery(t, s, "gone", Query{Limit: 10}); len(got) != 0 {
		t.Errorf("gone = %v, want none", ids(got))
	}
	if got := ids(mustQuery(t, s, "kept", Query{Limit: 10})); !slices.Equal(got, []string{"k1"}) {
		t.Errorf("kept = %v, want [k1]", got)
	}
	targets, err := s.Targets(t.Context(), time.Time{}, time.Time{}, 10)
	if err != nil || len(targets) != 1 || targets[0].Key != "kept" {
		t.Errorf("Targets after delete = %+v, %v; want only kept", targets, err)
	}
	// An earlier time than the deleted log's newest: a stale position
	// hint would put it out of place or refuse it.
	mustAppend(t, s, "gone", Record{ID: "g3", Time: at(3)})
	got := mustQuery(t, s, "gone", Query{Limit: 10})
	if !slices.Equal(ids(got), []string{"g3"}) || !got[0].Time.Equal(at(3)) {
		t.Errorf("gone after new append = %v, want [g3] at its own time", ids(got))
	}
	if got := mustQuery(t, s, "gone", Query{Before: &Ref{Time: at(4)}, Limit: 10}); len(got) != 1 {
		t.Errorf("g3 is not positioned at its own time: before at(4) = %v", ids(got))
	}
}

// testDelete removes records by msgid and checks that the rest of the log,
// other keys and Targets stay right, down to an emptied key.
func testDelete(t *testing.T, s Store) {
	ctx := t.Context()
	for i, id := range []string{"a", "b", "c", "d", "dup", "dup"} {
		ms := []int{1, 2, 2, 3, 4, 4}[i]
		mustAppend(t, s, "k", Record{ID: id, Time: at(ms), Data: []byte("data-" + id)})
	}
	mustAppend(t, s, "other", Record{ID: "x", Time: at(1), Data: []byte("x")})
	del := func(ms int, id string, want error) {
		t.Helper()
		if err := s.Delete(ctx, "k", Ref{Time: at(ms), ID: id}); !errors.Is(err, want) {
			t.Fatalf("Delete(k, %s at %d ms) = %v, want %v", id, ms, err, want)
		}
	}
	latest := func(key string) (time.Time, bool) {
		t.Helper()
		targets, err := s.Targets(ctx, time.Time{}, time.Time{}, 10)
		if err != nil {
			t.Fatalf("Targets: %v", err)
		}
		for _, ta := range targets {
			if ta.Key == key {
				return ta.Latest, true
			}
		}
		return time.Time{}, false
	}
	del(2, "c", nil)
	del(2, "c", ErrNotFound)
	del(1, "x", ErrNotFound) // another key's record
	del(3, "b", ErrNotFound) // b lies before the time given
	del(0, "b", nil)         // an earlier time still finds it
	del(4, "dup", nil)       // both copies go
	recs := mustQuery(t, s, "k", Query{Limit: 10})
	if got := ids(recs); !slices.Equal(got, []string{"a", "d"}) || string(recs[1].Data) != "data-d" {
		t.Fatalf("k after deletes = %v, want [a d] with their data", got)
	}
	if got, ok := latest("k"); !ok || !got.Equal(at(3)) {
		t.Errorf("Targets latest of k = %v (%v), want %v: the newest left", got, ok, at(3))
	}
	del(3, "d", nil)
	del(1, "a", nil)
	if got := mustQuery(t, s, "k", Query{Limit: 10, FromNewest: true}); len(got) != 0 {
		t.Fatalf("k after deleting all = %v, want none", ids(got))
	}
	if _, ok := latest("k"); ok {
		t.Errorf("Targets still lists the emptied key")
	}
	if _, ok := latest("other"); !ok {
		t.Errorf("Targets lost an untouched key")
	}
	// The emptied log takes new records, even at an earlier time than
	// the deleted ones.
	mustAppend(t, s, "k", Record{ID: "e", Time: at(2)})
	if got := ids(mustQuery(t, s, "k", Query{Limit: 10})); !slices.Equal(got, []string{"e"}) {
		t.Errorf("k after a new append = %v, want [e]", got)
	}
}

// testMaxLen checks count retention. Redis trims whole stream nodes
// (MAXLEN ~), so it may keep up to a node's worth more than MaxLen.
func testMaxLen(t *testing.T, s Store) {
	const n, maxLen, slack = 400, 10, 100
	for i := range n {
		mustAppend(t, s, "k", Record{ID: strconv.Itoa(i), Time: at(i), Data: make([]byte, 200)})
	}
	got := mustQuery(t, s, "k", Query{Limit: n, FromNewest: true})
	if len(got) < maxLen || len(got) > maxLen+slack {
		t.Fatalf("kept %d records, want %d to %d", len(got), maxLen, maxLen+slack)
	}
	for i, r := range got {
		if want := strconv.Itoa(n - len(got) + i); r.ID != want {
			t.Fatalf("record %d = %s, want %s (the newest must be kept)", i, r.ID, want)
		}
	}
}

func testKeyring(t *testing.T, s Store) {
	if _, err := s.Keyring(t.Context()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Keyring on empty store: %v, want ErrNotFound", err)
	}
	if ok, err := s.CreateKeyring(t.Context(), []byte("first")); !ok || err != nil {
		t.Fatalf("CreateKeyring on empty store = %v, %v", ok, err)
	}
	if ok, err := s.CreateKeyring(t.Context(), []byte("second")); ok || err != nil {
		t.Fatalf("CreateKeyring over a stored one = %v, %v; want false", ok, err)
	}
	if got, _ := s.Keyring(t.Context()); string(got) != "first" {
		t.Fatalf("Keyring = %q after a refused create, want the first", got)
	}
	for _, data := range [][]byte{[]byte("ring-1\x00\xff"), []byte("ring-2"), {}} {
		if err := s.SaveKeyring(t.Context(), data); err != nil {
			t.Fatalf("SaveKeyring: %v", err)
		}
		got, err := s.Keyring(t.Context())
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Keyring = %q, %v; want %q", got, err, data)
		}
	}
}

func testChannelStates(t *testing.T, s Store) {
	ctx := t.Context()
	check := func(want map[string][]byte) {
		t.Helper()
		got, err := s.ChannelStates(ctx)
		if err != nil || !maps.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("ChannelStates = %q, %v; want %q", got, err, want)
		}
	}
	check(map[string][]byte{})
	for _, kv := range [][2]string{{"a", "1"}, {"b", "2\x00"}, {"a", "3"}} {
		if err := s.SaveChannelState(ctx, kv[0], []byte(kv[1])); err != nil {
			t.Fatalf("SaveChannelState: %v", err)
		}
	}
	check(map[string][]byte{"a": []byte("3"), "b": []byte("2\x00")})
	for _, key := range []string{"b", "missing"} {
		if err := s.DeleteChannelState(ctx, key); err != nil {
			t.Fatalf("DeleteChannelState(%q): %v", key, err)
		}
	}
	check(map[string][]byte{"a": []byte("3")})
}

// testBlobs checks that blobs replace, delete and stay apart by kind, and
// that they do not mix with channel states.
func testBlobs(t *testing.T, s Store) {
	ctx := t.Context()
	check := func(kind string, want map[string][]byte) {
		t.Helper()
		got, err := s.Blobs(ctx, kind)
		if err != nil || !maps.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("Blobs(%q) = %q, %v; want %q", kind, got, err, want)
		}
	}
	check("account", map[string][]byte{})
	for _, b := range [][3]string{{"account", "a", "1"}, {"account", "b", "2\x00"}, {"push", "a", "p"}, {"account", "a", "3"}} {
		if err := s.SaveBlob(ctx, b[0], b[1], []byte(b[2])); err != nil {
			t.Fatalf("SaveBlob: %v", err)
		}
	}
	check("account", map[string][]byte{"a": []byte("3"), "b": []byte("2\x00")})
	check("push", map[string][]byte{"a": []byte("p")})
	for _, key := range []string{"b", "missing"} {
		if err := s.DeleteBlob(ctx, "account", key); err != nil {
			t.Fatalf("DeleteBlob(%q): %v", key, err)
		}
	}
	if err := s.DeleteBlob(ctx, "nokind", "a"); err != nil {
		t.Fatalf("DeleteBlob of an unknown kind: %v", err)
	}
	check("account", map[string][]byte{"a": []byte("3")})
	check("push", map[string][]byte{"a": []byte("p")})
	if cs, err := s.ChannelStates(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("ChannelStates = %q, %v; blobs must not show up there", cs, err)
	}
}

func TestMemoryContract(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T, opts Options) Store { return NewMemory(opts) })
}
