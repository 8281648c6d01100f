package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Append adds rec at the end of key's stream; see AppendBatch.
func (r *Redis) Append(ctx context.Context, key string, rec Record) error {
	return r.AppendBatch(ctx, []KeyedRecord{{Key: key, Record: rec}})
}

// AppendBatch appends recs in one pipelined round trip: an XADD per
// record, then a ZADD GT per key, since the targets index needs each key's
// latest time once per batch, not once per record.
//
// Each entry's ID is <ms>-* from its record's time, or from the newest
// millisecond this process knows of in the stream if that is later, so
// IDs only grow; such a record keeps its own time in a field. If Redis
// still refuses an XADD, the stream's newest entry is read: if it lies
// above the ID asked for (another process wrote the stream, or this one
// restarted after the clock went back), the record is added after it. Any
// other refusal is the record's own, reported as ErrRefused.
func (r *Redis) AppendBatch(ctx context.Context, recs []KeyedRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if err := checkTimes(recs); err != nil {
		return err
	}
	idMs := r.entryIDs(recs)
	xadds, err := r.pipeAppends(ctx, recs, idMs)
	if err != nil {
		return wrapErr("append", err)
	}
	failed, err := refusedAdds(xadds)
	if err != nil || len(failed) == 0 {
		return wrapErr("append", err)
	}
	return wrapErr("append", r.repairStale(ctx, recs, idMs, failed))
}

// pipeAppends sends the XADD of each record at its idMs and the ZADDs of
// the targets index in one pipeline and returns the XADDs. The error is
// the pipeline's own failure (connection, timeout); Redis's replies are in
// the commands. A refused ZADD goes to OnIndexError: it leaves the index
// behind, which does not justify writing every record again.
func (r *Redis) pipeAppends(ctx context.Context, recs []KeyedRecord, idMs []int64) ([]*redis.StringCmd, error) {
	pipe := r.writer.Pipeline()
	xadds := make([]*redis.StringCmd, len(recs))
	latest := make(map[string]int64, 4)
	for i, kr := range recs {
		xadds[i] = pipe.XAdd(ctx, r.xaddArgs(kr, idMs[i]))
		latest[kr.Key] = max(latest[kr.Key], idMs[i])
	}
	zadds := make([]*redis.IntCmd, 0, len(latest))
	for key, ms := range latest {
		zadds = append(zadds, pipe.ZAddGT(ctx, r.names.index(key), redis.Z{Score: float64(ms), Member: key}))
	}
	if err := r.exec(ctx, pipe); err != nil {
		return nil, err
	}
	r.reportIndex(zadds)
	return xadds, nil
}

// exec runs pipe and returns the error that failed it as a whole: a
// connection, timeout or connection setup (AUTH, SELECT) failure, after
// which no command has a reply. Error replies to single commands are left
// in the commands.
func (r *Redis) exec(ctx context.Context, pipe redis.Pipeliner) error {
	start := time.Now()
	cmds, err := pipe.Exec(ctx)
	r.timed("append", start)
	if err == nil || (isReply(err) && slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return c.Err() != nil })) {
		return nil
	}
	return err
}

// xaddArgs is the XADD of kr at millisecond idMs, carrying the record's
// own time in a field when the ID cannot:
//
//	xadd <stream> [maxlen ~ <MaxLen>] <idMs>-* id <ID> d <Data> [t <ms>]
func (r *Redis) xaddArgs(kr KeyedRecord, idMs int64) *redis.XAddArgs {
	values := []any{fieldID, kr.ID, fieldData, kr.Data}
	if ms := kr.Time.UnixMilli(); ms != idMs {
		values = append(values, fieldTime, ms)
	}
	a := &redis.XAddArgs{Stream: r.names.stream(kr.Key), ID: strconv.FormatInt(idMs, 10) + "-*", Values: values}
	if r.maxLen > 0 {
		a.MaxLen, a.Approx = int64(r.maxLen), true
	}
	return a
}

// reportIndex passes the first refused ZADD to OnIndexError.
func (r *Redis) reportIndex(zadds []*redis.IntCmd) {
	for _, z := range zadds {
		if err := z.Err(); err != nil && r.onIndex != nil {
			r.onIndex(err)
			return
		}
	}
}

// refusedAdds returns the indexes of the XADDs Redis refused. A reply
// that says the server cannot take writes just now (loading, read-only
// replica, out of memory, authentication) is returned as the error
// instead, so the batch is retried like one whose connection dropped.
func refusedAdds(xadds []*redis.StringCmd) ([]int, error) {
	var failed []int
	for i, c := range xadds {
		err := c.Err()
		if err == nil {
			continue
		}
		if !isReply(err) || serverUnavailable(err) {
			return nil, err
		}
		failed = append(failed, i)
	}
	return failed, nil
}

// isReply reports whether err is an error reply from Redis, as opposed to
// a failure to reach it.
func isReply(err error) bool {
	_, ok := errors.AsType[redis.Error](err)
	return ok
}

// serverUnavailable reports whether an error reply concerns the server's
// state rather than the command, so retrying later can succeed.
func serverUnavailable(err error) bool {
	return redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsMasterDownError(err) ||
		redis.IsClusterDownError(err) || redis.IsTryAgainError(err) || redis.IsOOMError(err) ||
		redis.IsAuthError(err) || redis.IsPermissionError(err) || redis.IsMaxClientsError(err)
}

// repairStale handles the refused XADDs of recs at indexes failed. Where
// the stream's newest entry lies above the ID asked for, the ID was stale:
// the record is added again after that entry, and top learns of it. Any
// other refusal is returned as ErrRefused.
func (r *Redis) repairStale(ctx context.Context, recs []KeyedRecord, idMs []int64, failed []int) error {
	tops, err := r.streamTops(ctx, recs, failed)
	if err != nil {
		return err
	}
	retry := make([]KeyedRecord, 0, len(failed))
	retryMs := make([]int64, 0, len(failed))
	for _, i := range failed {
		top, ok := tops[recs[i].Key]
		if !ok || top <= idMs[i] {
			return fmt.Errorf("%w: %s", ErrRefused, recs[i].ID)
		}
		r.raiseTop(recs[i].Key, top)
		retry, retryMs = append(retry, recs[i]), append(retryMs, top)
	}
	xadds, err := r.pipeAppends(ctx, retry, retryMs)
	if err != nil {
		return err
	}
	for _, c := range xadds {
		if err := c.Err(); err != nil {
			if serverUnavailable(err) {
				return err
			}
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	return nil
}

// streamTops reads the newest entry's millisecond of each stream holding
// a record at failed, in one pipeline. A stream that is empty or missing
// has no entry in the map; one Redis cannot read (it holds another type)
// makes its records refused.
func (r *Redis) streamTops(ctx context.Context, recs []KeyedRecord, failed []int) (map[string]int64, error) {
	pipe := r.writer.Pipeline()
	reads := make(map[string]*redis.XMessageSliceCmd)
	for _, i := range failed {
		if key := recs[i].Key; reads[key] == nil {
			reads[key] = pipe.XRevRangeN(ctx, r.names.stream(key), "+", "-", 1)
		}
	}
	if err := r.exec(ctx, pipe); err != nil {
		return nil, err
	}
	tops := make(map[string]int64, len(reads))
	for key, c := range reads {
		msgs, err := c.Result()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRefused, err)
		}
		if len(msgs) > 0 {
			tops[key] = parseEntry(msgs[0]).ms
		}
	}
	return tops, nil
}

// entryIDs returns the millisecond of each record's entry ID: its own, or
// the newest its stream has had from this process if that is later, so
// IDs only grow.
func (r *Redis) entryIDs(recs []KeyedRecord) []int64 {
	out := make([]int64, len(recs))
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.top) > maxTopKeys {
		clear(r.top) // only a hint: a stale ID is repaired
	}
	for i, kr := range recs {
		ms := max(kr.Time.UnixMilli(), r.top[kr.Key])
		r.top[kr.Key], out[i] = ms, ms
	}
	return out
}

// raiseTop records that key's stream has an entry at ms.
func (r *Redis) raiseTop(key string, ms int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.top[key] = max(r.top[key], ms)
}

// pruneTop forgets streams whose newest entry from this process lies
// before cut: TrimBefore has just emptied them of this process's records,
// and the next record's ID, if stale, is repaired.
func (r *Redis) pruneTop(cut int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, ms := range r.top {
		if ms < cut {
			delete(r.top, key)
		}
	}
}
