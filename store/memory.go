package store

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"
)

var _ Store = (*Memory)(nil)

// Memory is an in-memory store for tests: it loses everything on exit.
// The daemon's embedded default is Bolt. It is safe for concurrent use; mu guards all
// of its fields.
type Memory struct {
	maxLen int

	mu       sync.Mutex
	logs     map[string][]entry // ascending by position
	latest   map[string]int64   // newest record time per key, in ms
	keyring  []byte
	channels map[string][]byte
	blobs    map[string]map[string][]byte // kind -> key -> blob
}

// NewMemory returns an empty in-memory store. Only opts.MaxLen applies.
func NewMemory(opts Options) *Memory {
	return &Memory{
		maxLen:   opts.MaxLen,
		logs:     make(map[string][]entry),
		latest:   make(map[string]int64),
		channels: make(map[string][]byte),
		blobs:    make(map[string]map[string][]byte),
	}
}

// Append adds rec at the end of key's log. If rec.Time is older than the
// newest record, the record keeps its time but is positioned at the
// newest record's millisecond, as Redis does when the clock goes back.
func (m *Memory) Append(_ context.Context, key string, rec Record) error {
	ms, err := recordMs(rec)
	if err != nil {
		return err
	}
	rec = cloneRecord(rec)
	m.mu.Lock()
	defer m.mu.Unlock()
	log := m.logs[key]
	pos := ms
	if n := len(log); n > 0 && log[n-1].ms > pos {
		pos = log[n-1].ms
	}
	log = append(log, entry{ms: pos, rec: rec})
	if m.maxLen > 0 && len(log) > m.maxLen {
		log = log[len(log)-m.maxLen:]
	}
	m.logs[key] = log
	m.latest[key] = max(m.latest[key], ms)
	return nil
}

// Query returns records of key selected by q, oldest first.
func (m *Memory) Query(_ context.Context, key string, q Query) ([]Record, error) {
	lo, hi, ok := msRange(q)
	if !ok || q.Limit <= 0 {
		return nil, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	log := m.logs[key]
	start := sort.Search(len(log), func(i int) bool { return log[i].ms >= lo })
	end := sort.Search(len(log), func(i int) bool { return log[i].ms > hi })
	w := newWindow(q)
	if q.FromNewest {
		for i := end - 1; i >= start && w.add(log[i]); i-- {
		}
	} else {
		for i := start; i < end && w.add(log[i]); i++ {
		}
	}
	return cloneRecords(w.result(q.FromNewest)), nil
}

// Targets lists keys whose newest record lies in (after, before), newest
// first, at most limit of them. A zero after or before is unbounded.
func (m *Memory) Targets(_ context.Context, after, before time.Time, limit int) ([]TargetActivity, error) {
	lo, hi := targetBounds(after, before)
	m.mu.Lock()
	var out []TargetActivity
	for key, ms := range m.latest {
		if ms > lo && ms < hi {
			out = append(out, TargetActivity{Key: key, Latest: msTime(ms)})
		}
	}
	m.mu.Unlock()
	return newestTargets(out, limit), nil
}

// TrimBefore deletes every record positioned before t, across all keys,
// and forgets keys left empty.
func (m *Memory) TrimBefore(_ context.Context, t time.Time) error {
	cut := t.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, log := range m.logs {
		i := sort.Search(len(log), func(i int) bool { return log[i].ms >= cut })
		if i == len(log) {
			delete(m.logs, key)
			delete(m.latest, key)
			continue
		}
		m.logs[key] = slices.Clone(log[i:])
	}
	return nil
}

// DeleteTarget deletes key's log and forgets it.
func (m *Memory) DeleteTarget(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.logs, key)
	delete(m.latest, key)
	return nil
}

// Keyring returns the stored keyring, or ErrNotFound.
func (m *Memory) Keyring(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keyring == nil {
		return nil, ErrNotFound
	}
	return slices.Clone(m.keyring), nil
}

// SaveKeyring replaces the stored keyring.
func (m *Memory) SaveKeyring(_ context.Context, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keyring = append([]byte{}, data...) // non-nil even when empty
	return nil
}

// CreateKeyring stores data as the keyring unless one is stored.
func (m *Memory) CreateKeyring(_ context.Context, data []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keyring != nil {
		return false, nil
	}
	m.keyring = append([]byte{}, data...)
	return true, nil
}

// ChannelStates returns every stored channel state, by key.
func (m *Memory) ChannelStates(context.Context) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.channels))
	for k, v := range m.channels {
		out[k] = slices.Clone(v)
	}
	return out, nil
}

// SaveChannelState replaces one channel's state.
func (m *Memory) SaveChannelState(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.channels[key] = append([]byte{}, data...)
	return nil
}

// DeleteChannelState removes one channel's state; absent keys are fine.
func (m *Memory) DeleteChannelState(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.channels, key)
	return nil
}

// Blobs returns every stored blob of kind, by key.
func (m *Memory) Blobs(_ context.Context, kind string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.blobs[kind]))
	for k, v := range m.blobs[kind] {
		out[k] = slices.Clone(v)
	}
	return out, nil
}

// SaveBlob replaces one blob of kind.
func (m *Memory) SaveBlob(_ context.Context, kind, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.blobs[kind] == nil {
		m.blobs[kind] = make(map[string][]byte)
	}
	m.blobs[kind][key] = append([]byte{}, data...)
	return nil
}

// DeleteBlob removes one blob of kind; absent keys are fine.
func (m *Memory) DeleteBlob(_ context.Context, kind, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blobs[kind], key)
	return nil
}

// Ping always succeeds: memory is always reachable.
func (m *Memory) Ping(context.Context) error { return nil }

// Close does nothing; the data stays readable until the Memory is dropped.
func (m *Memory) Close() error { return nil }

// Delete removes key's records with ID ref.ID positioned from ref.Time's
// millisecond on, and recomputes the key's newest time.
func (m *Memory) Delete(_ context.Context, key string, ref Ref) error {
	from := ref.Time.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	log := m.logs[key]
	start := sort.Search(len(log), func(i int) bool { return log[i].ms >= from })
	kept := slices.Clone(log[:start])
	for _, e := range log[start:] {
		if e.rec.ID != ref.ID {
			kept = append(kept, e)
		}
	}
	switch {
	case len(kept) == len(log):
		return ErrNotFound
	case len(kept) == 0:
		delete(m.logs, key)
		delete(m.latest, key)
		return nil
	}
	m.logs[key] = kept
	latest := int64(0)
	for _, e := range kept {
		latest = max(latest, e.rec.Time.UnixMilli())
	}
	m.latest[key] = latest
	return nil
}
