package history

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"securechat/store"
)

// ErrNotFound reports that a message is not in a target's history.
var ErrNotFound = errors.New("history: message not found")

// findWindow bounds how many records Find opens from a msgid's time on.
// A record sits at its own time unless the clock went back when it was
// stored, so the one sought is nearly always the first.
const findWindow = 64

// Find returns the message ref.ID of key's history, or ErrNotFound. It
// first lets queued records land, so a message sent just before is found.
func (h *History) Find(ctx context.Context, key string, ref Ref) (*Entry, error) {
	_ = h.queue.Flush(ctx) // on timeout the message may only be missed
	// After without an ID is exclusive of its millisecond.
	from := &Ref{Time: ref.Time.Truncate(time.Millisecond).Add(-time.Millisecond)}
	es, err := h.Read(ctx, key, Query{After: from, Limit: findWindow})
	if err != nil {
		return nil, err
	}
	if i := slices.IndexFunc(es, func(e *Entry) bool { return e.MsgID == ref.ID }); i >= 0 {
		return es[i], nil
	}
	return nil, ErrNotFound
}

// Redact deletes the message ref.ID from key's history for good: the
// sealed record leaves the store, so no replay or CHATHISTORY returns it
// again. Queued records are written first, so a message still waiting in
// the queue cannot land after its deletion; if they cannot be, nothing is
// deleted and the error says why.
func (h *History) Redact(ctx context.Context, key string, ref Ref) error {
	if err := h.queue.Flush(ctx); err != nil {
		return fmt.Errorf("redacting: waiting for queued records: %w", err)
	}
	err := h.store.Delete(ctx, key, ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case err != nil:
		return fmt.Errorf("redacting: %w", err)
	}
	return nil
}
