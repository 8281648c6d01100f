package history

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var ringT0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// ringEntries returns entries "m1".."mn", one second apart from ringT0.
func ringEntries(n int) []*Entry {
	es := make([]*Entry, n)
	for i := range es {
		es[i] = &Entry{MsgID: fmt.Sprintf("m%d", i+1), At: ringT0.Add(time.Duration(i) * time.Second)}
	}
	return es
}

// pick returns the entries of es with the given 1-based numbers.
func pick(es []*Entry, nums ...int) []*Entry {
	out := make([]*Entry, 0, len(nums))
	for _, n := range nums {
		out = append(out, es[n-1])
	}
	return out
}

func ids(nums ...int) []string {
	out := make([]string, 0, len(nums))
	for _, n := range nums {
		out = append(out, fmt.Sprintf("m%d", n))
	}
	return out
}

func TestRingAddKeepsNewest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		keep, n int
	}{
		{"fewer than keep", 5, 3},
		{"exactly keep", 5, 5},
		{"just under twice keep", 5, 9},
		{"twice keep", 5, 10},
		{"many times keep", 5, 57},
		{"keep one", 1, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			all := ringEntries(tt.n)
			var r Ring
			for _, e := range all {
				r.Add(e, tt.keep)
			}
			got := r.Snapshot()
			if r.Len() != len(got) {
				t.Fatalf("Len %d, Snapshot has %d", r.Len(), len(got))
			}
			if want := min(tt.n, tt.keep); len(got) < want {
				t.Fatalf("holds %d entries, want at least %d", len(got), want)
			}
			// Whatever it holds is the newest, oldest first, with no gap.
			if want := msgIDs(all[tt.n-len(got):]); !slices.Equal(msgIDs(got), want) {
				t.Fatalf("holds %v, want %v", msgIDs(got), want)
			}
			if r.Loaded() {
				t.Fatal("Add marked the ring loaded")
			}
		})
	}
}

func TestRingSnapshotIsACopy(t *testing.T) {
	t.Parallel()
	es := ringEntries(4)
	var r Ring
	for _, e := range es[:3] {
		r.Add(e, 10)
	}
	snap := r.Snapshot()
	snap[0] = es[3]
	r.Add(es[3], 10)
	if got := msgIDs(snap); !slices.Equal(got, ids(4, 2, 3)) {
		t.Fatalf("snapshot changed by Add: %v", got)
	}
	if got := msgIDs(r.Snapshot()); !slices.Equal(got, ids(1, 2, 3, 4)) {
		t.Fatalf("ring changed through its snapshot: %v", got)
	}
}

func TestRingForgetBefore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cutoff time.Time
		want   []string
	}{
		{"cutoff before all", ringT0.Add(-time.Hour), ids(1, 2, 3, 4)},
		{"cutoff at the first", ringT0, ids(1, 2, 3, 4)},
		{"cutoff between", ringT0.Add(1500 * time.Millisecond), ids(3, 4)},
		{"cutoff at an entry keeps it", ringT0.Add(2 * time.Second), ids(3, 4)},
		{"cutoff after all", ringT0.Add(time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r Ring
			for _, e := range ringEntries(4) {
				r.Add(e, 10)
			}
			r.ForgetBefore(tt.cutoff)
			if got := msgIDs(r.Snapshot()); !slices.Equal(got, tt.want) {
				t.Fatalf("kept %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRingMerge(t *testing.T) {
	t.Parallel()
	es := ringEntries(6)
	sameTime := []*Entry{
		{MsgID: "s1", At: ringT0}, {MsgID: "s2", At: ringT0}, {MsgID: "s3", At: ringT0},
	}
	tests := []struct {
		name         string
		ring, stored []*Entry
		limit        int
		want         []string
	}{
		{"empty ring takes the stored tail", nil, pick(es, 1, 2, 3), 10, ids(1, 2, 3)},
		{"empty ring keeps limit", nil, pick(es, 1, 2, 3, 4, 5), 3, ids(3, 4, 5)},
		{"stored tail goes before live", pick(es, 4, 5), pick(es, 1, 2, 3), 10, ids(1, 2, 3, 4, 5)},
		{"stored copy of the oldest live dropped", pick(es, 3, 4), pick(es, 1, 2, 3), 10, ids(1, 2, 3, 4)},
		{"stored copies of all live dropped", pick(es, 3, 4), pick(es, 1, 2, 3, 4), 10, ids(1, 2, 3, 4)},
		{"stored newer than the ring dropped", pick(es, 3), pick(es, 1, 2, 5), 10, ids(1, 2, 3)},
		{"limit drops the oldest", pick(es, 4, 5), pick(es, 1, 2, 3), 3, ids(3, 4, 5)},
		{"limit below live", pick(es, 4, 5, 6), pick(es, 1, 2, 3), 2, ids(5, 6)},
		{"nothing stored", pick(es, 4, 5), nil, 10, ids(4, 5)},
		{"same millisecond", sameTime[2:], sameTime, 10, []string{"s1", "s2", "s3"}},
		{"stored copy of a later live entry dropped", sameTime[1:], pick(sameTime, 1, 3), 10, []string{"s1", "s2", "s3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r Ring
			for _, e := range tt.ring {
				r.Add(e, 100)
			}
			r.Merge(slices.Clone(tt.stored), tt.limit)
			if got := msgIDs(r.Snapshot()); !slices.Equal(got, tt.want) {
				t.Fatalf("merged %v, want %v", got, tt.want)
			}
			if !r.Loaded() {
				t.Fatal("Merge did not mark the ring loaded")
			}
		})
	}
}

func TestLastN(t *testing.T) {
	t.Parallel()
	es := ringEntries(3)
	tests := []struct {
		name string
		n    int
		want []string
	}{
		{"more than held", 5, ids(1, 2, 3)},
		{"all", 3, ids(1, 2, 3)},
		{"fewer", 2, ids(2, 3)},
		{"none", 0, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := msgIDs(LastN(es, tt.n)); !slices.Equal(got, tt.want) {
				t.Fatalf("LastN(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}
