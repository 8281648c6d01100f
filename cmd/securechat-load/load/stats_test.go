package load

import (
	"testing"
	"time"
)

func TestTrackerAccounting(t *testing.T) {
	type obs struct {
		sender int
		seq    int64
	}
	tests := []struct {
		name  string
		bases []int64 // per sender 0 and 1
		ends  []int64
		seen  []obs
		want  Counts
	}{
		{
			name: "all in order", bases: []int64{0, 0}, ends: []int64{3, 2},
			seen: []obs{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {0, 2}},
			want: Counts{Expected: 5, Received: 5},
		},
		{
			name: "loss", bases: []int64{0, 0}, ends: []int64{4, 1},
			seen: []obs{{0, 0}, {0, 3}},
			want: Counts{Expected: 5, Received: 2, Lost: 3},
		},
		{
			name: "duplicates", bases: []int64{0, 0}, ends: []int64{2, 0},
			seen: []obs{{0, 0}, {0, 0}, {0, 1}, {0, 1}, {0, 1}},
			want: Counts{Expected: 2, Received: 2, Duplicates: 3},
		},
		{
			name: "reordering", bases: []int64{0, 0}, ends: []int64{4, 0},
			seen: []obs{{0, 1}, {0, 0}, {0, 3}, {0, 2}},
			want: Counts{Expected: 4, Received: 4, Reordered: 2},
		},
		{
			name: "stale before join and late after window", bases: []int64{10, 5}, ends: []int64{12, 5},
			seen: []obs{{0, 9}, {0, 10}, {0, 11}, {0, 12}, {1, 4}},
			want: Counts{Expected: 2, Received: 2, Stale: 2, Late: 1},
		},
		{
			name: "foreign sender and out of range", bases: []int64{0, 0}, ends: []int64{0, 0},
			seen: []obs{{2, 0}, {-1, 0}, {7, 1}},
			want: Counts{Foreign: 3},
		},
		{
			name: "large sequence numbers grow the bitset", bases: []int64{0, 0}, ends: []int64{100000, 0},
			seen: []obs{{0, 99999}, {0, 64}, {0, 99999}},
			want: Counts{Expected: 100000, Received: 2, Lost: 99998, Reordered: 1, Duplicates: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(3, []int{0, 1})
			tr.Open(func(s int) int64 { return tc.bases[s] })
			for _, o := range tc.seen {
				tr.Observe(o.sender, o.seq, time.Millisecond, phaseMain)
			}
			tr.Close(func(s int) int64 { return tc.ends[s] })
			if got := tr.Totals(); got != tc.want {
				t.Errorf("totals = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTrackerReopen(t *testing.T) {
	tr := NewTracker(1, []int{0})
	tr.Open(func(int) int64 { return 0 })
	for seq := range int64(200) {
		tr.Observe(0, seq, 0, phaseIdle)
	}
	tr.Close(func(int) int64 { return 200 })
	// Rejoin after a gap: bits from the first window must not leak.
	tr.Open(func(int) int64 { return 300 })
	tr.Observe(0, 300, 0, phaseIdle)
	tr.Observe(0, 250, 0, phaseIdle) // predates the rejoin: replay territory
	tr.Close(func(int) int64 { return 310 })
	want := Counts{Expected: 210, Received: 201, Lost: 9, Stale: 1}
	if got := tr.Totals(); got != want {
		t.Errorf("totals = %+v, want %+v", got, want)
	}
}

// TestTrackerLatencyByPhase checks that latency goes to the histogram of
// the phase it was observed in, and nowhere outside a window.
func TestTrackerLatencyByPhase(t *testing.T) {
	tr := NewTracker(1, []int{0})
	tr.Open(func(int) int64 { return 0 })
	if tr.BaselineLatency() != nil {
		t.Fatal("baseline histogram allocated before use")
	}
	for seq, p := range []phase{phaseIdle, phaseBaseline, phaseBaseline, phaseIdle, phaseMain, phaseMain, phaseMain} {
		tr.Observe(0, int64(seq), time.Duration(p)*time.Millisecond, p)
	}
	if n := tr.BaselineLatency().Count(); n != 2 || tr.BaselineLatency().Max() != time.Millisecond {
		t.Errorf("baseline: %d samples, max %v", n, tr.BaselineLatency().Max())
	}
	if n := tr.Latency().Count(); n != 3 || tr.Latency().Max() != 2*time.Millisecond {
		t.Errorf("main: %d samples, max %v", n, tr.Latency().Max())
	}
	var h Histogram
	h.Merge(tr.BaselineLatency())
	h.Merge(nil) // a receiver without baseline samples
	if h.Count() != 2 {
		t.Errorf("merged %d", h.Count())
	}
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name    string
		values  []time.Duration
		q       float64
		want    time.Duration
		within  float64 // allowed relative error
		wantMax time.Duration
	}{
		{name: "empty", q: 0.5, want: 0},
		{name: "single exact", values: []time.Duration{42}, q: 0.99, want: 42, wantMax: 42},
		{name: "median of small exact values", values: []time.Duration{1, 2, 3, 4, 5}, q: 0.5, want: 3, wantMax: 5},
		{name: "p90 nearest rank", values: seqDur(1, 10), q: 0.9, want: 9, wantMax: 10},
		{name: "p99 of 1..1000 microseconds", values: scale(seqDur(1, 1000), time.Microsecond), q: 0.99, want: 990 * time.Microsecond, within: 0.035, wantMax: time.Millisecond},
		{name: "p50 of 1..1000 milliseconds", values: scale(seqDur(1, 1000), time.Millisecond), q: 0.5, want: 500 * time.Millisecond, within: 0.035, wantMax: time.Second},
		{name: "max is exact and caps p100", values: []time.Duration{time.Millisecond, 1234567}, q: 1, want: 1234567, wantMax: 1234567},
		{name: "negative counts as zero", values: []time.Duration{-5, -1}, q: 0.5, want: 0, wantMax: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tc.values {
				h.Record(v)
			}
			got := h.Quantile(tc.q)
			if diff := float64(got - tc.want); diff > tc.within*float64(tc.want) || -diff > tc.within*float64(tc.want) {
				t.Errorf("Quantile(%v) = %v, want %v (±%.1f%%)", tc.q, got, tc.want, tc.within*100)
			}
			if h.Max() != tc.wantMax {
				t.Errorf("Max = %v, want %v", h.Max(), tc.wantMax)
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b Histogram
	for i := range 50 {
		a.Record(time.Duration(i))
		b.Record(time.Duration(50 + i))
	}
	a.Merge(&b)
	if a.Count() != 100 || a.Max() != 99 || a.Quantile(0.5) != 49 {
		t.Errorf("merged: count %d max %v p50 %v", a.Count(), a.Max(), a.Quantile(0.5))
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	for i := 1; i < histBuckets; i++ {
		lo, w := bucketRange(i - 1)
		next, _ := bucketRange(i)
		if lo+w != next {
			t.Fatalf("bucket %d ends at %d, bucket %d starts at %d", i-1, lo+w, i, next)
		}
		if bucketOf(next) != i || bucketOf(next-1) != i-1 {
			t.Fatalf("bucketOf boundary wrong at %d", next)
		}
	}
}

func TestSamplesSummary(t *testing.T) {
	var s Samples
	for i := 1; i <= 100; i++ {
		s.Add(float64(i))
	}
	want := Dist{Count: 100, Mean: 50.5, P50: 50, P90: 90, P99: 99, Max: 100}
	if got := s.Summary(); got != want {
		t.Errorf("Summary = %+v, want %+v", got, want)
	}
}

func seqDur(from, to int) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i))
	}
	return out
}

func scale(v []time.Duration, unit time.Duration) []time.Duration {
	for i := range v {
		v[i] *= unit
	}
	return v
}
