package store

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// errBeforeEpoch is returned for records that cannot be positioned, since
// both backends order history by non-negative Unix milliseconds.
var errBeforeEpoch = fmt.Errorf("%w: record time before 1970", ErrRefused)

// recordMs returns rec's time in Unix milliseconds, the precision at which
// every store keeps it.
func recordMs(rec Record) (int64, error) {
	ms := rec.Time.UnixMilli()
	if ms < 0 {
		return 0, fmt.Errorf("append %q: %w", rec.ID, errBeforeEpoch)
	}
	return ms, nil
}

// checkTimes refuses a batch holding a record that cannot be positioned,
// before any of it is written.
func checkTimes(recs []KeyedRecord) error {
	for _, kr := range recs {
		if _, err := recordMs(kr.Record); err != nil {
			return err
		}
	}
	return nil
}

// cloneRecord copies rec's data and truncates its time to the precision
// that is stored, so callers never share buffers with the store.
func cloneRecord(rec Record) Record {
	rec.Time = msTime(rec.Time.UnixMilli())
	rec.Data = slices.Clone(rec.Data)
	return rec
}

func cloneRecords(recs []Record) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[i] = r
		out[i].Data = slices.Clone(r.Data)
	}
	return out
}

// targetBounds turns Targets' bounds into exclusive milliseconds, zero
// times meaning unbounded.
func targetBounds(after, before time.Time) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if !after.IsZero() {
		lo = after.UnixMilli()
	}
	if !before.IsZero() {
		hi = before.UnixMilli()
	}
	return lo, hi
}

// newestTargets sorts targets newest first, ties by descending key as
// Redis orders them, and keeps at most limit.
func newestTargets(out []TargetActivity, limit int) []TargetActivity {
	slices.SortFunc(out, func(a, b TargetActivity) int {
		if c := b.Latest.Compare(a.Latest); c != 0 {
			return c
		}
		return strings.Compare(b.Key, a.Key)
	})
	return out[:min(len(out), max(limit, 0))]
}

// observe reports an operation that began at start to hook, if set.
func observe(hook func(op string, d time.Duration), op string, start time.Time) {
	if hook != nil {
		hook(op, time.Since(start))
	}
}
