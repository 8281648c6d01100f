package history

import (
	"context"
	"slices"
	"time"
)

// Ring is a channel's replay ring: its newest entries, oldest first, and
// whether it holds the stored tail yet. It is not safe for concurrent
// use: the channel's lock guards it, so that recording a message and
// delivering it to the members happen in one critical section, and a
// joiner gets each message either replayed or live, never both.
type Ring struct {
	entries []*Entry
	loaded  bool // the stored tail has been merged in
}

// Add appends e, keeping at least the newest keep entries.
func (r *Ring) Add(e *Entry, keep int) {
	r.entries = append(r.entries, e)
	// Trim only when twice over, so the copy is paid once per keep
	// messages rather than on every message.
	if len(r.entries) >= 2*keep {
		r.entries = append(r.entries[:0:0], r.entries[len(r.entries)-keep:]...)
	}
}

// Snapshot returns a copy of the entries.
func (r *Ring) Snapshot() []*Entry { return append([]*Entry(nil), r.entries...) }

// Len is the number of entries held.
func (r *Ring) Len() int { return len(r.entries) }

// Loaded reports whether the stored tail has been merged in.
func (r *Ring) Loaded() bool { return r.loaded }

// ForgetBefore drops entries older than cutoff.
func (r *Ring) ForgetBefore(cutoff time.Time) {
	i := 0
	for i < len(r.entries) && r.entries[i].At.Before(cutoff) {
		i++
	}
	r.entries = r.entries[i:]
}

// Merge puts the stored tail, read while the ring went on taking live
// messages, in front of the ring, keeping limit entries, and marks the
// ring loaded. Stored entries the ring already has are dropped: the
// write-behind queue may have stored them by the time the tail was read.
func (r *Ring) Merge(stored []*Entry, limit int) {
	r.entries = mergeEntries(withoutRing(stored, r.entries), r.entries, limit)
	r.loaded = true
}

// Tail reads the newest limit entries of key from the store, for a
// channel whose ring is not loaded yet.
func (h *History) Tail(key string, limit int) ([]*Entry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	return h.Read(ctx, key, Query{Limit: limit, FromNewest: true})
}

// withoutRing drops from stored the entries whose msgids ring holds.
func withoutRing(stored, ring []*Entry) []*Entry {
	if len(ring) == 0 {
		return stored
	}
	in := make(map[string]bool, len(ring))
	for _, e := range ring {
		in[e.MsgID] = true
	}
	out := make([]*Entry, 0, len(stored))
	for _, e := range stored {
		if !in[e.MsgID] {
			out = append(out, e)
		}
	}
	return out
}

// mergeEntries puts the stored tail before the in-memory entries, dropping
// stored ones that memory already has or that are newer than it.
func mergeEntries(stored, mem []*Entry, limit int) []*Entry {
	if len(mem) == 0 {
		return LastN(stored, limit)
	}
	first := mem[0]
	out := make([]*Entry, 0, len(stored)+len(mem))
	for _, e := range stored {
		if e.MsgID == first.MsgID || e.At.After(first.At) {
			break
		}
		out = append(out, e)
	}
	return LastN(append(out, mem...), limit)
}

// LastN returns the last n entries of es.
func LastN(es []*Entry, n int) []*Entry {
	if len(es) > n {
		return es[len(es)-n:]
	}
	return es
}

// Find returns the entry with msgid id, or nil.
func (r *Ring) Find(id string) *Entry {
	for _, e := range r.entries {
		if e.MsgID == id {
			return e
		}
	}
	return nil
}

// Remove drops the entry with msgid id and reports whether there was one.
func (r *Ring) Remove(id string) bool {
	n := len(r.entries)
	r.entries = slices.DeleteFunc(r.entries, func(e *Entry) bool { return e.MsgID == id })
	return len(r.entries) != n
}
