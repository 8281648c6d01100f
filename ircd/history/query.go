package history

import (
	"context"
	"slices"
)

// Around returns up to limit entries of key centred on ref: half before it
// and half from it on, so a msgid reference includes the referenced
// message; near either end of the history the other side fills the
// window. Both sides are read in full so that the split can be made
// afterwards.
func (h *History) Around(ctx context.Context, key string, ref Ref, limit int) ([]*Entry, error) {
	before, err := h.Read(ctx, key, Query{Before: &ref, Limit: limit, FromNewest: true})
	if err != nil {
		return nil, err
	}
	q := Query{Limit: limit}
	if len(before) > 0 {
		// Just after the last record before ref, which is ref itself for
		// a msgid reference.
		last := before[len(before)-1]
		q.After = &Ref{Time: last.At, ID: last.MsgID}
	}
	after, err := h.Read(ctx, key, q)
	if err != nil {
		return nil, err
	}
	nBefore := min(len(before), max(limit/2, limit-len(after)))
	after = after[:min(len(after), limit-nBefore)]
	return appendNew(LastN(before, nBefore), after), nil
}

// appendNew appends the entries of more whose msgids es lacks; the write
// queue is at-least-once, so two reads can meet the same record.
func appendNew(es, more []*Entry) []*Entry {
	out := slices.Clone(es)
	for _, e := range more {
		if !slices.ContainsFunc(es, func(x *Entry) bool { return x.MsgID == e.MsgID }) {
			out = append(out, e)
		}
	}
	return out
}
