package store

import "time"

// entry is one record as a backend holds it: its position in the log
// (millisecond plus append order within it) and the record itself. The
// position's millisecond is the record's own time unless the clock went
// back when it was appended (see Options).
type entry struct {
	ms  int64
	rec Record
}

// window applies a Query's ID-refined bounds to entries that arrive in scan
// order, which is ascending, or descending when the query is FromNewest.
// Both backends share it so that their same-millisecond semantics cannot
// drift apart. The backend narrows the scan to [near ms, far ms] itself;
// window only decides within the two boundary milliseconds.
//
// The bound the scan starts from (near) excludes every entry at its
// millisecond up to and including its ID, which needs no lookahead. The
// bound the scan ends at (far) keeps entries at its millisecond only if its
// ID turns up after them, so those entries stay tentative until then.
type window struct {
	limit int

	near      *Ref
	nearMs    int64
	nearFound bool

	far    *Ref
	farMs  int64
	farEnd bool // the far bound's ID was found: nothing further qualifies

	kept      []Record
	tentative int // trailing entries of kept that depend on finding far.ID
}

func newWindow(q Query) *window {
	w := &window{limit: q.Limit}
	w.near, w.far = q.After, q.Before
	if q.FromNewest {
		w.near, w.far = q.Before, q.After
	}
	if w.near != nil && w.near.ID == "" {
		w.near = nil // the backend's millisecond range already excludes it
	}
	if w.far != nil && w.far.ID == "" {
		w.far = nil
	}
	if w.near != nil {
		w.nearMs = w.near.Time.UnixMilli()
	}
	if w.far != nil {
		w.farMs = w.far.Time.UnixMilli()
	}
	return w
}

// add offers the next entry in scan order and reports whether the scan
// should go on.
func (w *window) add(e entry) bool {
	if w.near != nil && e.rec.ID == w.near.ID {
		// The bound itself, wherever it lies: a record appended late
		// (another node of a cluster wrote it, or the clock went back)
		// sits after its millisecond, and is still not after itself.
		w.nearFound = true
		return true
	}
	if w.near != nil && e.ms == w.nearMs && !w.nearFound {
		w.nearFound = e.rec.ID == w.near.ID
		return true
	}
	if w.far != nil && e.ms == w.farMs {
		if e.rec.ID == w.far.ID {
			w.farEnd, w.tentative = true, 0
			return false
		}
		if len(w.kept) < w.limit {
			w.kept = append(w.kept, e.rec)
			w.tentative++
		}
		// Past the limit, keep scanning only to learn whether the far ID
		// exists and so whether the tentative entries count.
		return true
	}
	if len(w.kept) < w.limit {
		w.kept = append(w.kept, e.rec)
	}
	return len(w.kept) < w.limit
}

// done reports whether further entries cannot change the result.
func (w *window) done() bool {
	return w.farEnd || (len(w.kept) >= w.limit && w.tentative == 0)
}

// result returns the selected records in ascending order once the scan has
// ended, either because add said so or because the range ran out.
func (w *window) result(descending bool) []Record {
	recs := w.kept[:len(w.kept)-w.tentative]
	if descending {
		for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
			recs[i], recs[j] = recs[j], recs[i]
		}
	}
	return recs
}

// msRange is the span of milliseconds [lo, hi] a query can touch, after the
// bounds without an ID have been made inclusive. ok is false when the span
// is empty.
func msRange(q Query) (lo, hi int64, ok bool) {
	lo, hi = 0, int64(^uint64(0)>>1)
	if q.After != nil {
		lo = q.After.Time.UnixMilli()
		if q.After.ID == "" {
			lo++
		}
	}
	if q.Before != nil {
		hi = q.Before.Time.UnixMilli()
		if q.Before.ID == "" {
			hi--
		}
	}
	return max(lo, 0), hi, lo <= hi && hi >= 0
}

// msTime converts a stored millisecond time back to a time.Time in UTC.
func msTime(ms int64) time.Time {
	return time.UnixMilli(ms).UTC()
}
