package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrQueueClosed is returned by Flush after Close has stopped the queue
// with records still unwritten.
var ErrQueueClosed = errors.New("store: queue closed")

// QueueOptions configures a Queue. Hooks may be nil; they run on the
// writer goroutine (OnDrop on the caller's) and must not block.
type QueueOptions struct {
	// Size is how many records may wait; Append drops beyond it. Zero or
	// less means 4096.
	Size int
	// OnDrop is called each time Append refuses a record.
	OnDrop func()
	// OnError is called each time a write fails and will be retried.
	OnError func(error)
	// OnWritten is called with the number of records just written and
	// the number still waiting after them.
	OnWritten func(n, waiting int)
	// MinBackoff and MaxBackoff bound the wait between retries of a failed
	// write, which doubles from the first to the second. Zero means 50ms
	// and 2s.
	MinBackoff, MaxBackoff time.Duration
	// WriteTimeout bounds one write attempt. Zero means 5s.
	WriteTimeout time.Duration
	// MaxRefusals is how many times a record the backend refuses
	// (ErrRefused) is tried before it is discarded. Zero means 5. Failures
	// to reach the backend are retried without limit.
	MaxRefusals int
	// OnDiscard is called with the number of records discarded after
	// MaxRefusals refusals and the last refusal.
	OnDiscard func(n int, err error)
}

// queued is one record waiting to be written.
type queued struct {
	key string
	rec Record
}

// Queue is a bounded write-behind buffer in front of a History, so a slow
// or absent backend never stalls live chat: Append never blocks, and one
// writer goroutine writes records in order, retrying the oldest with
// backoff while the backend cannot be reached. Records the backend refuses
// (ErrRefused) are discarded after MaxRefusals tries instead. Writes are at least once: a write whose
// reply was lost is retried and may be stored twice.
//
// Queue is safe for concurrent use; mu guards the ring and counters.
type Queue struct {
	h    History
	opts QueueOptions

	mu       sync.Mutex
	ring     []queued
	head, n  int
	depth    atomic.Int64  // n, readable without mu
	accepted uint64        // records ever accepted
	written  uint64        // records ever written
	progress chan struct{} // closed and replaced when written grows
	closed   bool          // Append refuses; set by Close

	wake    chan struct{} // capacity 1: work may be waiting
	stop    chan struct{} // closed to end the writer
	stopped chan struct{} // closed when the writer has returned
	ctx     context.Context
	cancel  context.CancelFunc
	once    sync.Once
}

// NewQueue starts a queue writing to h. Call Close to stop it.
func NewQueue(h History, opts QueueOptions) *Queue {
	opts = queueDefaults(opts)
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		h:        h,
		opts:     opts,
		ring:     make([]queued, opts.Size),
		progress: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
	}
	go q.run()
	return q
}

func queueDefaults(o QueueOptions) QueueOptions {
	if o.Size <= 0 {
		o.Size = 4096
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 2 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 5 * time.Second
	}
	if o.MaxRefusals <= 0 {
		o.MaxRefusals = 5
	}
	return o
}

// Append queues rec for key without blocking. It returns false, and calls
// OnDrop, when the queue is full or closed. rec.Data must not be modified
// afterwards.
func (q *Queue) Append(key string, rec Record) bool {
	q.mu.Lock()
	ok := !q.closed && q.n < len(q.ring)
	if ok {
		q.ring[(q.head+q.n)%len(q.ring)] = queued{key: key, rec: rec}
		q.n++
		q.depth.Store(int64(q.n))
		q.accepted++
	}
	q.mu.Unlock()
	if !ok {
		if q.opts.OnDrop != nil {
			q.opts.OnDrop()
		}
		return false
	}
	select {
	case q.wake <- struct{}{}:
	default: // the writer is already due to look
	}
	return true
}

// Depth returns how many records wait, including those being written.
// It takes no lock, so the relay path may report it on every message.
func (q *Queue) Depth() int { return int(q.depth.Load()) }

// Flush waits until every record accepted before the call is written, or
// ctx ends, or the queue is stopped with records unwritten.
func (q *Queue) Flush(ctx context.Context) error {
	q.mu.Lock()
	target := q.accepted
	q.mu.Unlock()
	for {
		q.mu.Lock()
		done, progress := q.written >= target, q.progress
		q.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-progress:
		case <-q.stopped:
			return ErrQueueClosed
		case <-ctx.Done():
			return fmt.Errorf("store: flush: %w", ctx.Err())
		}
	}
}

// Close refuses further records, flushes what is queued (until ctx ends),
// then stops the writer and waits for it. Records still queued when ctx
// ends are lost. Close may be called more than once.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	err := q.Flush(ctx)
	q.once.Do(func() {
		close(q.stop)
		q.cancel() // abandon a write in progress
	})
	<-q.stopped
	if errors.Is(err, ErrQueueClosed) {
		return nil // a concurrent Close already flushed
	}
	return err
}

// maxBatch bounds how many records one write carries, so a long backlog
// is written in round trips of a reasonable size.
const maxBatch = 256

// run is the writer goroutine: it writes the oldest records, a batch at a
// time, until the queue is empty, then sleeps until Append wakes it. When
// the backend refuses a batch, its records are written one at a time
// (singles counts those left), so only the refused ones are discarded.
func (q *Queue) run() {
	defer close(q.stopped)
	var batch []KeyedRecord
	singles := 0
	for {
		limit := maxBatch
		if singles > 0 {
			limit = 1
		}
		batch = q.peek(batch[:0], limit)
		if len(batch) == 0 {
			select {
			case <-q.wake:
				continue
			case <-q.stop:
				return
			}
		}
		res := q.writeWithRetry(batch)
		switch res {
		case stopped:
			return
		case split:
			singles = len(batch)
			continue
		}
		q.pop(len(batch), res == written)
		singles = max(singles-len(batch), 0)
		if floodBatch(len(batch)) {
			q.gather()
		}
	}
}

// writeResult is how writeWithRetry ended.
type writeResult int

const (
	written   writeResult = iota
	discarded             // a lone record refused MaxRefusals times
	split                 // a batch of several refused: write them one by one
	stopped               // the queue was stopped first
)

// A batch of gatherBatch records or more means a flood of messages. Each
// round trip then costs more than the records it carries, so the writer
// lets gatherDelay's worth of records collect before the next one. Quiet
// traffic, a few records per round trip, is written at once.
const (
	gatherBatch = 16
	gatherDelay = time.Millisecond
)

// floodBatch reports whether a batch of n records just written means a
// flood the writer should gather for. A full batch means a backlog: it is
// written without waiting.
func floodBatch(n int) bool { return n >= gatherBatch && n < maxBatch }

// gather waits gatherDelay, or less if the queue is stopped.
func (q *Queue) gather() {
	t := time.NewTimer(gatherDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-q.stop:
	}
}

// writeWithRetry writes batch, retrying with backoff while the backend
// cannot be reached, until it is written or the queue is stopped. A batch
// the backend refuses is split at once if it holds several records, or
// discarded after MaxRefusals refusals if it holds one, so a record that
// can never be stored does not hold up every record behind it.
func (q *Queue) writeWithRetry(batch []KeyedRecord) writeResult {
	backoff := q.opts.MinBackoff
	refusals := 0
	for {
		err := q.write(batch)
		if err == nil {
			return written
		}
		if q.opts.OnError != nil {
			q.opts.OnError(err)
		}
		if errors.Is(err, ErrRefused) {
			if len(batch) > 1 {
				return split
			}
			if refusals++; refusals >= q.opts.MaxRefusals {
				if q.opts.OnDiscard != nil {
					q.opts.OnDiscard(len(batch), err)
				}
				return discarded
			}
		}
		select {
		case <-time.After(backoff):
			backoff = min(backoff*2, q.opts.MaxBackoff)
		case <-q.stop:
			return stopped
		}
	}
}

func (q *Queue) write(batch []KeyedRecord) error {
	ctx, cancel := context.WithTimeout(q.ctx, q.opts.WriteTimeout)
	defer cancel()
	if b, ok := q.h.(BatchAppender); ok {
		return b.AppendBatch(ctx, batch)
	}
	for _, kr := range batch {
		if err := q.h.Append(ctx, kr.Key, kr.Record); err != nil {
			return err
		}
	}
	return nil
}

// peek appends up to limit of the oldest records to buf without removing
// them, so Depth and Close still count them while they are written.
func (q *Queue) peek(buf []KeyedRecord, limit int) []KeyedRecord {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := 0; i < q.n && i < limit; i++ {
		it := q.ring[(q.head+i)%len(q.ring)]
		buf = append(buf, KeyedRecord{Key: it.key, Record: it.rec})
	}
	return buf
}

// pop removes the n records just written (or discarded) and tells Flush
// waiters, which wait for records to be dealt with either way. The hook
// runs first, so once Flush returns every OnWritten call for the records
// it waited for has been made.
func (q *Queue) pop(n int, wasWritten bool) {
	if wasWritten && q.opts.OnWritten != nil {
		q.opts.OnWritten(n, q.Depth()-n)
	}
	q.mu.Lock()
	for i := 0; i < n; i++ {
		q.ring[q.head] = queued{} // let the data be collected
		q.head = (q.head + 1) % len(q.ring)
	}
	q.n -= n
	q.depth.Store(int64(q.n))
	q.written += uint64(n)
	close(q.progress)
	q.progress = make(chan struct{})
	q.mu.Unlock()
}
