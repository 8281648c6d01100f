package history

import (
	"context"
	"fmt"
	"sync"
	"time"

	"securechat/metrics"
)

// slot names one sealed blob: kind "" is a channel's state, any other
// kind a blob stored with store.SaveBlob.
type slot struct {
	kind, key string
}

// stateMsgID is the msgid bound into sealed channel state, so a state blob
// can never pass for a history record or the other way round.
const stateMsgID = "channel-state"

// msgID is what the seal binds besides the key: a blob of one kind can
// never pass for another kind's, for channel state or for a history record
// (whose msgids never start with "blob:").
func (s slot) msgID() string {
	if s.kind == "" {
		return stateMsgID
	}
	return "blob:" + s.kind
}

func (h *History) openSealed(s slot, data []byte) ([]byte, error) {
	return h.vault.Open(s.key, s.msgID(), time.Unix(0, 0), data)
}

// storeSealed seals plain for s and stores it, or deletes s if plain is
// nil.
func (h *History) storeSealed(ctx context.Context, s slot, plain []byte) error {
	if plain == nil {
		if s.kind == "" {
			return h.store.DeleteChannelState(ctx, s.key)
		}
		return h.store.DeleteBlob(ctx, s.kind, s.key)
	}
	sealed, err := h.vault.Seal(s.key, s.msgID(), time.Unix(0, 0), plain)
	if err != nil {
		return err
	}
	if s.kind == "" {
		return h.store.SaveChannelState(ctx, s.key, sealed)
	}
	return h.store.SaveBlob(ctx, s.kind, s.key, sealed)
}

// stateWriter stores channel settings and other sealed blobs behind the
// callers' backs, one at a time, always the latest value given for each
// slot. Values are kept as plaintext JSON and sealed when stored, so a
// reseal after a key expires uses the newest key. mu guards the maps; it
// is a leaf lock, taken under a channel's lock.
type stateWriter struct {
	h    *History
	wake chan struct{} // capacity 1: a value may be waiting

	mu      sync.Mutex
	pending map[slot][]byte // latest value not yet stored (nil: delete)
	saving  bool            // a value is being stored now
	saved   map[slot][]byte // value last stored, for resealing
}

func newStateWriter(h *History) *stateWriter {
	return &stateWriter{
		h:       h,
		wake:    make(chan struct{}, 1),
		pending: make(map[slot][]byte),
		saved:   make(map[slot][]byte),
	}
}

func (w *stateWriter) put(s slot, plain []byte) {
	w.mu.Lock()
	w.pending[s] = plain
	w.mu.Unlock()
	w.poke()
}

func (w *stateWriter) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// remember notes a value loaded from the store as already saved.
func (w *stateWriter) remember(s slot, plain []byte) {
	w.mu.Lock()
	w.saved[s] = plain
	w.mu.Unlock()
}

// resealAll queues every saved value again, so it is sealed under the
// newest key before an old one is destroyed.
func (w *stateWriter) resealAll() {
	w.mu.Lock()
	for s, plain := range w.saved {
		if _, newer := w.pending[s]; !newer {
			w.pending[s] = plain
		}
	}
	w.mu.Unlock()
	w.poke()
}

// run stores pending values until ctx ends, backing off while the store
// fails.
func (w *stateWriter) run(ctx context.Context) {
	backoff := time.Duration(0)
	for {
		var retry <-chan time.Time // nil, never ready, unless a save failed
		if backoff > 0 {
			retry = time.After(backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-retry:
		}
		if w.saveAll(ctx) {
			backoff = 0
		} else {
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
		}
	}
}

// saveAll stores every pending value and reports whether all succeeded.
// A failed value goes back to pending unless a newer one came meanwhile.
func (w *stateWriter) saveAll(ctx context.Context) bool {
	for {
		s, plain, found := w.next()
		if !found {
			return true
		}
		err := w.save(ctx, s, plain)
		w.mu.Lock()
		w.saving = false
		if err != nil {
			if _, newer := w.pending[s]; !newer {
				w.pending[s] = plain
			}
		}
		w.mu.Unlock()
		if err != nil {
			op := metrics.OpChannelState
			if s.kind != "" {
				op = metrics.OpBlob
			}
			w.h.m.HistoryErrors.WithLabelValues(op).Inc()
			w.h.log.Error("saving sealed state failed, will retry", "kind", s.kind, "err", err)
			return false
		}
	}
}

// next takes one pending value, marking the writer as saving.
func (w *stateWriter) next() (s slot, plain []byte, found bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for s, plain = range w.pending {
		delete(w.pending, s)
		w.saving = true
		return s, plain, true
	}
	return slot{}, nil, false
}

func (w *stateWriter) save(ctx context.Context, s slot, plain []byte) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := w.h.storeSealed(ctx, s, plain); err != nil {
		return err
	}
	w.mu.Lock()
	if plain == nil {
		delete(w.saved, s)
	} else {
		w.saved[s] = plain
	}
	w.mu.Unlock()
	return nil
}

// waitIdle waits until every value given so far is stored, or ctx ends.
func (w *stateWriter) waitIdle(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		w.mu.Lock()
		n := len(w.pending)
		idle := n == 0 && !w.saving
		w.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d sealed states not saved: %w", n, ctx.Err())
		case <-t.C:
		}
	}
}
