package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"securechat/ircd/wire"
	"securechat/metrics"
)

// ChannelState is the persisted form of a channel's settings, sealed
// before it is stored.
type ChannelState struct {
	Name        string    `json:"name"`
	Created     time.Time `json:"created"`
	Topic       string    `json:"topic,omitempty"`
	TopicSetter string    `json:"topic_setter,omitempty"`
	TopicAt     time.Time `json:"topic_at,omitzero"`
	Modes       string    `json:"modes"`
	Key         string    `json:"key,omitempty"`
	Limit       int       `json:"limit,omitempty"`
	Bans        []Ban     `json:"bans,omitempty"`
	// Metadata is the channel's draft/metadata-2 keys and values.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Ban is one entry of a channel's ban list.
type Ban struct {
	Mask   string    `json:"mask"`
	Setter string    `json:"setter"`
	At     time.Time `json:"at"`
}

// stateMsgID is the msgid bound into sealed channel state, so a state blob
// can never pass for a history record or the other way round.
const stateMsgID = "channel-state"

// SaveChannel records st as the latest settings of the channel with
// store key key; nil deletes them. It returns at once: a writer goroutine
// stores the latest state of each channel, retrying while the store
// fails, so the stored state is always the last one given. Callers give
// a channel's states in the order they were made (under the channel's
// lock), which is then the order members saw.
func (h *History) SaveChannel(key string, st *ChannelState) { h.states.put(key, st) }

// Channels opens every stored channel state. States that do not open, or
// whose name does not match their key, are counted, logged and skipped.
func (h *History) Channels(ctx context.Context) ([]ChannelState, error) {
	sealed, err := h.store.ChannelStates(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading channel state: %w", err)
	}
	var out []ChannelState
	for key, data := range sealed {
		st, err := h.openState(key, data)
		if err != nil {
			h.m.HistoryErrors.WithLabelValues(metrics.OpOpen).Inc()
			h.log.Warn("skipping channel state that does not open")
			continue
		}
		h.states.remember(key, &st)
		out = append(out, st)
	}
	return out, nil
}

func (h *History) openState(key string, data []byte) (ChannelState, error) {
	var st ChannelState
	plain, err := h.vault.Open(key, stateMsgID, time.Unix(0, 0), data)
	if err == nil {
		err = json.Unmarshal(plain, &st)
	}
	if err == nil && h.Key(wire.Casefold(st.Name)) != key {
		err = errors.New("channel state under another channel's key")
	}
	return st, err
}

func (h *History) storeState(ctx context.Context, key string, st *ChannelState) error {
	if st == nil {
		return h.store.DeleteChannelState(ctx, key)
	}
	plain, err := json.Marshal(st)
	if err != nil {
		return err
	}
	sealed, err := h.vault.Seal(key, stateMsgID, time.Unix(0, 0), plain)
	if err != nil {
		return err
	}
	return h.store.SaveChannelState(ctx, key, sealed)
}

// stateWriter stores channel settings behind the callers' backs, one
// channel at a time, always the latest state given for each. mu guards
// the maps; it is a leaf lock, taken under a channel's lock.
type stateWriter struct {
	h    *History
	wake chan struct{} // capacity 1: a state may be waiting

	mu      sync.Mutex
	pending map[string]*ChannelState // key -> latest state not yet stored (nil: delete)
	saving  string                   // key being stored now, "" when idle
	saved   map[string]*ChannelState // key -> state last stored, for resealing
}

func newStateWriter(h *History) *stateWriter {
	return &stateWriter{
		h:       h,
		wake:    make(chan struct{}, 1),
		pending: make(map[string]*ChannelState),
		saved:   make(map[string]*ChannelState),
	}
}

func (w *stateWriter) put(key string, st *ChannelState) {
	w.mu.Lock()
	w.pending[key] = st
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// remember notes a state loaded from the store as already saved.
func (w *stateWriter) remember(key string, st *ChannelState) {
	w.mu.Lock()
	w.saved[key] = st
	w.mu.Unlock()
}

// resealAll queues every saved state again, so it is sealed under the
// newest key before an old one is destroyed.
func (w *stateWriter) resealAll() {
	w.mu.Lock()
	for key, st := range w.saved {
		if _, newer := w.pending[key]; !newer {
			w.pending[key] = st
		}
	}
	w.mu.Unlock()
	w.put("", nil) // wakes the writer; the empty key is never stored
}

// run stores pending states until ctx ends, backing off while the store
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

// saveAll stores every pending state and reports whether all succeeded.
// A failed state goes back to pending unless a newer one came meanwhile.
func (w *stateWriter) saveAll(ctx context.Context) bool {
	ok := true
	for {
		key, st, found := w.next()
		if !found {
			return ok
		}
		err := w.save(ctx, key, st)
		w.mu.Lock()
		w.saving = ""
		if err != nil {
			if _, newer := w.pending[key]; !newer {
				w.pending[key] = st
			}
			ok = false
		}
		w.mu.Unlock()
		if err != nil {
			w.h.m.HistoryErrors.WithLabelValues(metrics.OpChannelState).Inc()
			w.h.log.Error("saving channel state failed, will retry", "err", err)
			return false
		}
	}
}

// next takes one pending state, marking its key as being saved.
func (w *stateWriter) next() (key string, st *ChannelState, found bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, st = range w.pending {
		delete(w.pending, key)
		if key == "" {
			continue
		}
		w.saving = key
		return key, st, true
	}
	return "", nil, false
}

func (w *stateWriter) save(ctx context.Context, key string, st *ChannelState) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := w.h.storeState(ctx, key, st); err != nil {
		return err
	}
	w.mu.Lock()
	if st == nil {
		delete(w.saved, key)
	} else {
		w.saved[key] = st
	}
	w.mu.Unlock()
	return nil
}

// waitIdle waits until every state given so far is stored, or ctx ends.
func (w *stateWriter) waitIdle(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		w.mu.Lock()
		idle := len(w.pending) == 0 && w.saving == ""
		n := len(w.pending)
		w.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d channel states not saved: %w", n, ctx.Err())
		case <-t.C:
		}
	}
}
