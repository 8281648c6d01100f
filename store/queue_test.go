package store

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"securechat/store/redistest"
)

// fastRetry keeps retry waits short so tests notice recovery quickly.
func fastRetry(o QueueOptions) QueueOptions {
	o.MinBackoff, o.MaxBackoff, o.WriteTimeout = 10*time.Millisecond, 100*time.Millisecond, time.Second
	return o
}

func closeQueue(t *testing.T, q *Queue) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = q.Close(ctx)
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestQueueSurvivesRedisRestart appends while redis-server is down and
// expects every record, in order, once it is back on the same port.
func TestQueueSurvivesRedisRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{})
	var errs atomic.Int64
	q := NewQueue(s, fastRetry(QueueOptions{
		OnError:   func(error) { errs.Add(1) },
		OnDiscard: func(n int, err error) { t.Errorf("discarded %d records while Redis was down: %v", n, err) },
	}))
	closeQueue(t, q)

	srv.Stop()
	const n = 20
	for i := range n {
		if !q.Append("k", Record{ID: strconv.Itoa(i), Time: at(i), Data: []byte("x")}) {
			t.Fatalf("Append %d refused", i)
		}
	}
	waitFor(t, "a failed write", func() bool { return errs.Load() > 0 })
	if d := q.Depth(); d != n {
		t.Errorf("Depth while Redis is down = %d, want %d", d, n)
	}
	srv.Restart()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := q.Flush(ctx); err != nil {
		t.Fatalf("Flush after restart: %v", err)
	}
	got := ids(mustQuery(t, s, "k", Query{Limit: 100}))
	if len(got) != n || got[0] != "0" || got[n-1] != strconv.Itoa(n-1) {
		t.Errorf("stored %v, want 0..%d in order", got, n-1)
	}
	if d := q.Depth(); d != 0 {
		t.Errorf("Depth after flush = %d, want 0", d)
	}
}

func TestQueueOverflow(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{})
	srv.Stop()
	var drops atomic.Int64
	q := NewQueue(s, fastRetry(QueueOptions{Size: 4, OnDrop: func() { drops.Add(1) }}))
	accepted := 0
	for i := range 10 {
		if q.Append("k", Record{ID: strconv.Itoa(i), Time: at(i)}) {
			accepted++
		}
	}
	if accepted != 4 || drops.Load() != 6 || q.Depth() != 4 {
		t.Errorf("accepted %d, dropped %d, depth %d; want 4, 6, 4", accepted, drops.Load(), q.Depth())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with Redis down = %v, want deadline exceeded", err)
	}
	if q.Append("k", Record{ID: "late", Time: at(99)}) || drops.Load() != 7 {
		t.Errorf("Append after Close accepted or not counted as a drop")
	}
}

func TestQueueFlushAndClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		store func(t *testing.T) Store
	}{
		{"redis", func(t *testing.T) Store { return openRedis(t, redistest.Start(t), Options{}) }},
		{"memory", func(t *testing.T) Store { return NewMemory(Options{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.store(t)
			var written atomic.Int64
			q := NewQueue(s, QueueOptions{OnWritten: func(n, _ int) { written.Add(int64(n)) }})
			const n = 200
			var wg sync.WaitGroup
			for w := range 4 { // concurrent producers, each on its own key
				wg.Go(func() {
					for i := range n / 4 {
						q.Append("k"+strconv.Itoa(w), Record{ID: strconv.Itoa(i), Time: at(i)})
					}
				})
			}
			wg.Wait()
			if err := q.Flush(t.Context()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if written.Load() != n {
				t.Errorf("OnWritten total after Flush = %d, want %d", written.Load(), n)
			}
			q.Append("k0", Record{ID: "last", Time: at(1000)})
			if err := q.Close(t.Context()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := q.Close(t.Context()); err != nil {
				t.Errorf("second Close: %v", err)
			}
			got := ids(mustQuery(t, s, "k0", Query{Limit: 1, FromNewest: true}))
			if len(got) != 1 || got[0] != "last" {
				t.Errorf("newest of k0 = %v, want [last]: Close must flush", got)
			}
			if q.Append("k0", Record{ID: "after", Time: at(1001)}) {
				t.Error("Append after Close accepted")
			}
		})
	}
}

// TestQueueBatchesKeepOrder pushes more records than one batch holds,
// spread over several keys, and expects each key's log complete and in
// order: batching must not reorder or lose anything.
func TestQueueBatchesKeepOrder(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{})
	var written atomic.Int64
	q := NewQueue(s, fastRetry(QueueOptions{Size: 5000, OnWritten: func(n, _ int) { written.Add(int64(n)) }}))
	closeQueue(t, q)
	const n = 3 * maxBatch
	keys := []string{"a", "b", "c"}
	for i := range n {
		q.Append(keys[i%3], Record{ID: strconv.Itoa(i), Time: at(i), Data: []byte("x")})
	}
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if written.Load() != n {
		t.Fatalf("OnWritten counted %d, want %d", written.Load(), n)
	}
	for k, key := range keys {
		got := ids(mustQuery(t, s, key, Query{Limit: n}))
		if len(got) != n/3 {
			t.Fatalf("key %s holds %d records, want %d", key, len(got), n/3)
		}
		for j, id := range got {
			if id != strconv.Itoa(j*3+k) {
				t.Fatalf("key %s record %d is %s, want %d", key, j, id, j*3+k)
			}
		}
	}
}

// TestQueueOutOfOrderTimesStayOneRoundTrip appends records whose times go
// slightly backwards, as concurrent writers produce; all must be stored,
// in append order, each reading back with its own time.
func TestQueueOutOfOrderTimesStayOneRoundTrip(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{})
	q := NewQueue(s, fastRetry(QueueOptions{}))
	closeQueue(t, q)
	order := []int{5, 3, 4, 9, 1, 9, 10}
	for i, ms := range order {
		q.Append("k", Record{ID: strconv.Itoa(i), Time: at(ms), Data: []byte("x")})
	}
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := mustQuery(t, s, "k", Query{Limit: 100})
	if len(got) != len(order) {
		t.Fatalf("stored %d records, want %d", len(got), len(order))
	}
	for i, r := range got {
		if r.ID != strconv.Itoa(i) || !r.Time.Equal(at(order[i])) {
			t.Fatalf("record %d = %s at %v, want %d at %v", i, r.ID, r.Time, i, at(order[i]))
		}
	}
}

// TestRedisAppendFailsWhileDown makes sure a batch sent to a stopped Redis
// reports failure, so the queue keeps it for a retry instead of losing it.
func TestRedisAppendFailsWhileDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{})
	srv.Stop()
	recs := []KeyedRecord{{Key: "k", Record: Record{ID: "1", Time: at(1), Data: []byte("x")}}}
	if err := s.AppendBatch(t.Context(), recs); err == nil {
		t.Fatal("AppendBatch to a stopped Redis reported success")
	}
	if err := s.Append(t.Context(), "k", recs[0].Record); err == nil {
		t.Fatal("Append to a stopped Redis reported success")
	}
}

// TestFloodBatch: only a batch of a flood, big but not a full backlog
// batch, makes the writer gather before the next round trip.
func TestFloodBatch(t *testing.T) {
	for n, want := range map[int]bool{0: false, 1: false, gatherBatch - 1: false, gatherBatch: true, maxBatch - 1: true, maxBatch: false} {
		if got := floodBatch(n); got != want {
			t.Errorf("floodBatch(%d) = %v, want %v", n, got, want)
		}
	}
}

// TestQueueDiscardsRefusedRecords: a record Redis always refuses (its
// stream key holds a string) is tried MaxRefusals times, reported through
// OnDiscard and dropped; the records around it, in the same batches, are
// all stored in order and counted as written.
func TestQueueDiscardsRefusedRecords(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{})
	if err := srv.Client().Set(t.Context(), "sc:h:taken", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var discards []error
	var written, failures atomic.Int64
	q := NewQueue(s, fastRetry(QueueOptions{
		MaxRefusals: 3,
		OnError:     func(error) { failures.Add(1) },
		OnWritten:   func(n, _ int) { written.Add(int64(n)) },
		OnDiscard: func(n int, err error) {
			mu.Lock()
			defer mu.Unlock()
			for range n {
				discards = append(discards, err)
			}
		},
	}))
	closeQueue(t, q)
	const n = 40
	var want []string
	for i := range n {
		key := "k"
		if i == 7 || i == 30 {
			key = "taken"
		} else {
			want = append(want, strconv.Itoa(i))
		}
		q.Append(key, Record{ID: strconv.Itoa(i), Time: at(i), Data: []byte("x")})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := q.Flush(ctx); err != nil {
		t.Fatalf("Flush with refused records queued: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(discards) != 2 || !errors.Is(discards[0], ErrRefused) {
		t.Errorf("OnDiscard reported %v, want two ErrRefused records", discards)
	}
	if got := written.Load(); got != n-2 {
		t.Errorf("OnWritten counted %d, want %d", got, n-2)
	}
	if failures.Load() < 2*3 {
		t.Errorf("%d failed writes, want each refused record tried 3 times", failures.Load())
	}
	// Records of a refused batch that Redis did store are written again
	// one by one (at least once); their first appearances keep the order.
	got := ids(mustQuery(t, s, "k", Query{Limit: 1000}))
	if !slices.Equal(uniqueInOrder(got), want) {
		t.Errorf("stored %v, want %v (each at least once, in order)", got, want)
	}
}

// uniqueInOrder keeps the first appearance of each id.
func uniqueInOrder(got []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range got {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
