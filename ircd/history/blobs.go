package history

import (
	"context"
	"encoding/json"
	"fmt"

	"securechat/metrics"
)

// BlobKey returns the opaque store key of the blob of kind about the
// casefolded name (an account, say). The kind is part of the hashed
// name, so one name has unrelated keys in different kinds, and no key
// reveals the name.
func (h *History) BlobKey(kind, folded string) string { return h.Key(kind + ":" + folded) }

// Save records v, encoded as JSON, as the latest blob of kind under key;
// nil deletes it. Like SaveChannel it returns at once and the writer
// stores the latest value of each key, retrying while the store fails,
// until Close. kind must be a short non-empty constant.
func (h *History) Save(kind, key string, v any) {
	if kind == "" {
		panic("history: Save with an empty kind")
	}
	if v == nil {
		h.states.put(slot{kind, key}, nil)
		return
	}
	plain, err := json.Marshal(v)
	if err != nil {
		h.log.Error("encoding a sealed blob failed", "kind", kind, "err", err)
		return
	}
	h.states.put(slot{kind, key}, plain)
}

// Load opens every stored blob of kind and returns its JSON by key. Blobs
// that do not open (another kind's, moved to another key, tampered with)
// are counted, logged and skipped.
func (h *History) Load(ctx context.Context, kind string) (map[string]json.RawMessage, error) {
	sealed, err := h.store.Blobs(ctx, kind)
	if err != nil {
		return nil, fmt.Errorf("loading %s blobs: %w", kind, err)
	}
	out := make(map[string]json.RawMessage, len(sealed))
	for key, data := range sealed {
		s := slot{kind, key}
		plain, err := h.openSealed(s, data)
		if err != nil {
			h.m.HistoryErrors.WithLabelValues(metrics.OpOpen).Inc()
			h.log.Warn("skipping a sealed blob that does not open", "kind", kind)
			continue
		}
		h.states.remember(s, plain)
		out[key] = plain
	}
	return out, nil
}
