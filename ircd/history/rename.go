package history

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
	"securechat/metrics"
	"securechat/store"
)

// ErrMoving refuses a rename of a key whose history is still moving.
var ErrMoving = errors.New("history: a rename of this channel is in progress")

// moveTimeout bounds one history move; past it the rest of the old
// history stays under the old key.
const moveTimeout = time.Minute

// movePage is how many records a move reads, reseals and writes at once.
const movePage = 500

// maxHeld bounds the records a move holds back; past it they go to the
// store at once, possibly ahead of the moved ones.
const maxHeld = 10_000

// Rename moves a channel's history from oldKey to newKey: each record is
// opened, its target renamed to name, and sealed again under newKey,
// since the seal binds the key. It returns at once; the move runs in the
// background. Until it is done, records appended under either key are
// held back, so the new key's history stays in order and the old key's
// deletion spares them; reads of newKey wait for it. The TARGETS index
// moves at once. oldFolded and newFolded are the casefolded names.
//
// The channel's state moves with SaveChannel: the caller saves it under
// newKey and deletes it under oldKey.
func (h *History) Rename(oldKey, newKey, oldFolded, newFolded, name string) error {
	mv, err := h.moves.start(oldKey, newKey)
	if err != nil {
		return err
	}
	h.index.rename(oldFolded, oldKey, newFolded, newKey, name)
	h.bg.Add(1)
	go func() {
		defer h.bg.Done()
		ctx, cancel := context.WithTimeout(h.bgCtx, moveTimeout)
		defer cancel()
		if err := h.move(ctx, mv, oldFolded, name); err != nil {
			h.m.HistoryErrors.WithLabelValues(metrics.OpAppend).Inc()
			h.log.Error("moving history to a channel's new name failed; the rest stays under the old name", "err", err)
		}
		// The held records enter the queue before the move ends, so later
		// appends queue behind them; readers waiting on the move are let
		// go once they are stored, so a read sees them.
		h.moves.finish(mv, func(kr store.KeyedRecord) { h.queue.Append(kr.Key, kr.Record) })
		flushCtx, cancelFlush := context.WithTimeout(h.bgCtx, storeTimeout)
		_ = h.queue.Flush(flushCtx)
		cancelFlush()
		close(mv.done)
	}()
	return nil
}

// HasHistory reports whether key has any stored record.
func (h *History) HasHistory(ctx context.Context, key string) (bool, error) {
	recs, err := h.store.Query(ctx, key, Query{Limit: 1})
	return len(recs) > 0, err
}

// move copies mv.from's records, resealed, to mv.to, then deletes them.
func (h *History) move(ctx context.Context, mv *move, oldFolded, name string) error {
	if err := h.queue.Flush(ctx); err != nil {
		return fmt.Errorf("flushing before a move: %w", err)
	}
	var after *Ref
	for {
		recs, err := h.store.Query(ctx, mv.from, Query{After: after, Limit: movePage})
		if err != nil {
			return fmt.Errorf("reading history to move: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		last := recs[len(recs)-1]
		after = &Ref{Time: last.Time, ID: last.ID}
		if err := h.appendNow(ctx, h.reseal(mv, recs, oldFolded, name)); err != nil {
			return fmt.Errorf("writing moved history: %w", err)
		}
	}
	if err := h.store.DeleteTarget(ctx, mv.from); err != nil {
		return fmt.Errorf("deleting moved history: %w", err)
	}
	return nil
}

// reseal opens recs (under mv.from) and seals them under mv.to, with
// their target renamed. Records that do not open are counted and
// skipped, as Read does.
func (h *History) reseal(mv *move, recs []store.Record, oldFolded, name string) []store.KeyedRecord {
	out := make([]store.KeyedRecord, 0, len(recs))
	for i, r := range recs {
		if i > 0 && r.ID == recs[i-1].ID {
			continue // the write queue is at-least-once
		}
		e := h.open(mv.from, r)
		if e == nil {
			continue
		}
		sealed, err := h.vault.Seal(mv.to, r.ID, r.Time, wire.Line(retarget(e.Msg, oldFolded, name)))
		if err != nil {
			h.m.HistoryErrors.WithLabelValues(metrics.OpSeal).Inc()
			continue
		}
		out = append(out, store.KeyedRecord{Key: mv.to, Record: store.Record{ID: r.ID, Time: r.Time, Data: sealed}})
	}
	return out
}

// appendNow writes recs to the store in order, in one round trip where
// the backend allows.
func (h *History) appendNow(ctx context.Context, recs []store.KeyedRecord) error {
	if b, ok := h.store.(store.BatchAppender); ok {
		return b.AppendBatch(ctx, recs)
	}
	for _, kr := range recs {
		if err := h.store.Append(ctx, kr.Key, kr.Record); err != nil {
			return err
		}
	}
	return nil
}

// retarget returns m addressed to name instead of the channel whose
// casefolded name is oldFolded; other messages come back unchanged.
func retarget(m *irc.Message, oldFolded, name string) *irc.Message {
	if len(m.Params) == 0 || wire.Casefold(m.Params[0]) != oldFolded {
		return m
	}
	out := *m
	out.Params = append([]string{name}, m.Params[1:]...)
	return &out
}

// Retarget readdresses the ring's entries from the channel whose
// casefolded name is oldFolded to name, after a rename. The entries are
// replaced, not changed: snapshots taken earlier stay as they were.
func (r *Ring) Retarget(oldFolded, name string) {
	for i, e := range r.entries {
		moved := *e
		moved.Msg = retarget(e.Msg, oldFolded, name)
		r.entries[i] = &moved
	}
}

// moves tracks the history moves in progress. active lets appends skip
// the lock while nothing moves; mu guards byKey.
type moves struct {
	active atomic.Int32
	mu     sync.Mutex
	byKey  map[string]*move // both keys of every move in progress
}

// move is one key's history moving to another key.
type move struct {
	from, to string
	done     chan struct{} // closed when the move is over
	held     []store.KeyedRecord
}

func (ms *moves) start(from, to string) (*move, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.byKey[from] != nil || ms.byKey[to] != nil {
		return nil, ErrMoving
	}
	if ms.byKey == nil {
		ms.byKey = make(map[string]*move)
	}
	mv := &move{from: from, to: to, done: make(chan struct{})}
	ms.byKey[from], ms.byKey[to] = mv, mv
	ms.active.Add(1)
	return mv, nil
}

// hold keeps rec back if key is moving and reports whether it did.
func (ms *moves) hold(key string, rec store.Record) bool {
	if ms.active.Load() == 0 {
		return false
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	mv := ms.byKey[key]
	if mv == nil || len(mv.held) >= maxHeld {
		return false
	}
	mv.held = append(mv.held, store.KeyedRecord{Key: key, Record: rec})
	return true
}

// finish hands the records mv held to release, in append order, and
// ends mv, all under ms.mu so no append slips between them. The caller
// closes mv.done once readers may go on.
func (ms *moves) finish(mv *move, release func(store.KeyedRecord)) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, kr := range mv.held {
		release(kr)
	}
	delete(ms.byKey, mv.from)
	delete(ms.byKey, mv.to)
	ms.active.Add(-1)
}

// wait returns once no move writes to key, or ctx ends.
func (ms *moves) wait(ctx context.Context, key string) {
	if ms.active.Load() == 0 {
		return
	}
	ms.mu.Lock()
	mv := ms.byKey[key]
	ms.mu.Unlock()
	if mv == nil || mv.to != key {
		return
	}
	select {
	case <-mv.done:
	case <-ctx.Done():
	}
}

// waitAll returns once every move is over, or ctx ends.
func (ms *moves) waitAll(ctx context.Context) error {
	for {
		ms.mu.Lock()
		var mv *move
		for _, m := range ms.byKey {
			mv = m
			break
		}
		ms.mu.Unlock()
		if mv == nil {
			return nil
		}
		select {
		case <-mv.done:
		case <-ctx.Done():
			return fmt.Errorf("history move not finished: %w", ctx.Err())
		}
	}
}

// rename moves the index entry of a channel to its new name and key.
func (x *targetIndex) rename(oldOwner, oldKey, newOwner, newKey, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t, ok := x.byOwner[oldOwner][oldKey]
	if !ok {
		return
	}
	delete(x.byOwner[oldOwner], oldKey)
	if len(x.byOwner[oldOwner]) == 0 {
		delete(x.byOwner, oldOwner)
	}
	keys := x.byOwner[newOwner]
	if keys == nil {
		keys = make(map[string]indexed)
		x.byOwner[newOwner] = keys
	}
	t.name = name
	keys[newKey] = t
}
