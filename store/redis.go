package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	_ Store         = (*Redis)(nil)
	_ BatchAppender = (*Redis)(nil)
)

// Redis stores history in one Redis Stream per target key, whose entry IDs
// are the records' millisecond times, so time queries become XRANGE
// bounds. A sorted set, the targets index, maps each key to its newest
// record time for Targets. The keyring is a string, channel states and
// blobs are hashes. keyLayout names them all, on a single Redis or a
// Redis Cluster, from the prefix and the caller's opaque keys only.
//
// Redis is safe for concurrent use; go-redis pools connections. Appends
// go through a client of their own (writer), so the Queue's pipelines
// never wait behind reads for a connection, nor reads behind them.
type Redis struct {
	client  redis.UniversalClient
	writer  redis.UniversalClient
	link    func() redis.UniversalClient // see LinkClient
	names   keyLayout
	maxLen  int
	observe func(op string, d time.Duration)
	onIndex func(error)

	// mu guards top: the highest entry millisecond this process gave or saw
	// in each stream, so a batch whose records arrive slightly out of time
	// order (several writers took their timestamps concurrently) still gets
	// increasing IDs without a second round trip. It is only a hint (a
	// stale ID is detected and repaired; see AppendBatch), so TrimBefore
	// prunes it and it is reset if it grows past maxTopKeys.
	mu  sync.Mutex
	top map[string]int64
}

// maxTopKeys bounds Redis.top, which otherwise grows with every target
// that was ever written.
const maxTopKeys = 100_000

// Field names inside a stream entry. "t" is only present when the entry ID
// could not carry the record's own time (see Append).
const (
	fieldID   = "id"
	fieldData = "d"
	fieldTime = "t"
)

// pageMax bounds how many entries one XRANGE asks for, so a query that must
// skip many same-millisecond entries still moves in bounded replies.
const pageMax = 1024

// trimScript trims one stream and, if that empties it, deletes it and
// drops it from its targets index in the same atomic step, so a
// concurrent Append cannot be left out of the index.
const trimScript = `
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
if redis.call('XLEN', KEYS[1]) == 0 then
	redis.call('DEL', KEYS[1])
	redis.call('ZREM', KEYS[2], ARGV[2])
end
return 0`

// timed reports one round trip that began at start to ObserveLatency.
func (r *Redis) timed(op string, start time.Time) { observe(r.observe, op, start) }

// wrapErr wraps err with the operation's name, leaving nil alone.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// Query returns records of key selected by q, oldest first. It reads pages
// with XRANGE (or XREVRANGE for FromNewest) that start at Limit plus a few
// entries, to cover same-millisecond entries an ID bound must skip, and
// grow while more are needed.
func (r *Redis) Query(ctx context.Context, key string, q Query) ([]Record, error) {
	lo, hi, ok := msRange(q)
	if !ok || q.Limit <= 0 {
		return nil, nil
	}
	near, far := streamID(lo, 0, "-"), streamID(hi, math.MaxUint64, "+")
	if q.FromNewest {
		near, far = far, near
	}
	w := newWindow(q)
	count := min(q.Limit+8, pageMax)
	for {
		msgs, err := r.page(ctx, r.names.stream(key), near, far, count, q.FromNewest)
		if err != nil {
			return nil, err
		}
		if !feed(w, msgs) || len(msgs) < count {
			return w.result(q.FromNewest), nil
		}
		near, count = "("+msgs[len(msgs)-1].ID, min(count*2, pageMax)
	}
}

// streamID renders a bound at millisecond ms, or open when ms is the end of
// the range's domain.
func streamID(ms int64, seq uint64, open string) string {
	if (open == "-" && ms <= 0) || (open == "+" && ms == math.MaxInt64) {
		return open
	}
	return strconv.FormatInt(ms, 10) + "-" + strconv.FormatUint(seq, 10)
}

// page reads up to count entries from near towards far.
func (r *Redis) page(ctx context.Context, stream, near, far string, count int, desc bool) ([]redis.XMessage, error) {
	start := time.Now()
	var msgs []redis.XMessage
	var err error
	if desc {
		msgs, err = r.client.XRevRangeN(ctx, stream, near, far, int64(count)).Result()
	} else {
		msgs, err = r.client.XRangeN(ctx, stream, near, far, int64(count)).Result()
	}
	r.timed("query", start)
	return msgs, wrapErr("query", err)
}

// feed offers msgs to w in order and reports whether the scan should go on.
func feed(w *window, msgs []redis.XMessage) bool {
	for _, m := range msgs {
		if !w.add(parseEntry(m)) {
			return false
		}
	}
	return !w.done()
}

// parseEntry turns a stream entry back into a record. Malformed fields read
// as empty rather than failing the whole query: they can only come from
// outside writers, and the caller's seal check rejects them.
func parseEntry(m redis.XMessage) entry {
	msPart, _, _ := strings.Cut(m.ID, "-")
	ms, _ := strconv.ParseInt(msPart, 10, 64)
	e := entry{ms: ms, rec: Record{Time: msTime(ms)}}
	e.rec.ID, _ = m.Values[fieldID].(string)
	data, _ := m.Values[fieldData].(string)
	e.rec.Data = []byte(data)
	if t, ok := m.Values[fieldTime].(string); ok {
		if own, err := strconv.ParseInt(t, 10, 64); err == nil {
			e.rec.Time = msTime(own)
		}
	}
	return e
}

// Targets lists keys whose newest record lies in (after, before), newest
// first, at most limit of them. A zero after or before is unbounded. On a
// cluster it asks every index bucket for its newest limit in one
// pipeline and keeps the newest limit of them all.
func (r *Redis) Targets(ctx context.Context, after, before time.Time, limit int) ([]TargetActivity, error) {
	if limit <= 0 {
		return nil, nil
	}
	lo, hi := targetBounds(after, before)
	by := &redis.ZRangeBy{Min: scoreBound(lo, "-inf"), Max: scoreBound(hi, "+inf"), Count: int64(limit)}
	start := time.Now()
	pipe := r.client.Pipeline()
	var reads []*redis.ZSliceCmd
	for _, index := range r.names.indexes() {
		reads = append(reads, pipe.ZRevRangeByScoreWithScores(ctx, index, by))
	}
	_, err := pipe.Exec(ctx)
	r.timed("targets", start)
	if err != nil {
		return nil, fmt.Errorf("store: targets: %w", err)
	}
	var out []TargetActivity
	for _, c := range reads {
		for _, z := range c.Val() {
			key, _ := z.Member.(string)
			out = append(out, TargetActivity{Key: key, Latest: msTime(int64(z.Score))})
		}
	}
	if len(reads) > 1 {
		slices.SortFunc(out, newestFirst)
	}
	return out[:min(limit, len(out))], nil
}

// newestFirst orders activities as ZREVRANGEBYSCORE does: by time, then
// by key, both descending.
func newestFirst(a, b TargetActivity) int {
	if c := b.Latest.Compare(a.Latest); c != 0 {
		return c
	}
	return strings.Compare(b.Key, a.Key)
}

// scoreBound renders an exclusive score bound, or inf for an open one.
func scoreBound(ms int64, inf string) string {
	if ms == math.MinInt64 || ms == math.MaxInt64 {
		return inf
	}
	return "(" + strconv.FormatInt(ms, 10)
}

// TrimBefore deletes every record positioned before t with XTRIM MINID on
// each stream in the targets index, and drops streams left empty from it.
// It walks each index set with ZSCAN, a batch of streams per round trip.
func (r *Redis) TrimBefore(ctx context.Context, t time.Time) error {
	minID := strconv.FormatInt(max(t.UnixMilli(), 0), 10)
	for _, index := range r.names.indexes() {
		if err := r.trimIndex(ctx, index, minID); err != nil {
			return err
		}
	}
	r.pruneTop(t.UnixMilli())
	return nil
}

// trimIndex trims the streams listed in one index set.
func (r *Redis) trimIndex(ctx context.Context, index, minID string) error {
	var cursor uint64
	for {
		start := time.Now()
		pairs, next, err := r.client.ZScan(ctx, index, cursor, "", 500).Result()
		r.timed("trim", start)
		if err != nil {
			return fmt.Errorf("store: trim: %w", err)
		}
		if err := r.trimBatch(ctx, index, minID, pairs); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// trimBatch trims the streams of pairs, ZSCAN's alternating members and
// scores from index.
func (r *Redis) trimBatch(ctx context.Context, index, minID string, pairs []string) error {
	if len(pairs) == 0 {
		return nil
	}
	start := time.Now()
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < len(pairs); i += 2 {
			p.Eval(ctx, trimScript, []string{r.names.stream(pairs[i]), index}, minID, pairs[i])
		}
		return nil
	})
	r.timed("trim", start)
	return wrapErr("trim", err)
}

// DeleteTarget deletes key's stream and drops it from its targets index
// in one MULTI (both share a slot on a cluster), so Targets never lists a
// stream that is gone.
func (r *Redis) DeleteTarget(ctx context.Context, key string) error {
	start := time.Now()
	_, err := r.writer.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, r.names.stream(key))
		p.ZRem(ctx, r.names.index(key), key)
		return nil
	})
	r.timed("delete", start)
	r.mu.Lock()
	delete(r.top, key)
	r.mu.Unlock()
	return wrapErr("delete target", err)
}

// Keyring returns the stored keyring, or ErrNotFound.
func (r *Redis) Keyring(ctx context.Context) ([]byte, error) {
	start := time.Now()
	data, err := r.client.Get(ctx, r.names.keyring()).Bytes()
	r.timed("keyring", start)
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	return data, wrapErr("keyring", err)
}

// SaveKeyring replaces the stored keyring.
func (r *Redis) SaveKeyring(ctx context.Context, data []byte) error {
	start := time.Now()
	err := r.client.Set(ctx, r.names.keyring(), data, 0).Err()
	r.timed("keyring", start)
	return wrapErr("save keyring", err)
}

// CreateKeyring stores data as the keyring unless one is stored.
func (r *Redis) CreateKeyring(ctx context.Context, data []byte) (bool, error) {
	start := time.Now()
	created, err := r.client.SetNX(ctx, r.names.keyring(), data, 0).Result()
	r.timed("keyring", start)
	return created, wrapErr("create keyring", err)
}

// ChannelStates returns every stored channel state, by key.
func (r *Redis) ChannelStates(ctx context.Context) (map[string][]byte, error) {
	out, err := r.hashBytes(ctx, r.names.channels(), "channel_state")
	if err != nil {
		return nil, fmt.Errorf("store: channel states: %w", err)
	}
	return out, nil
}

// hashBytes reads every field of the hash key, timed as op.
func (r *Redis) hashBytes(ctx context.Context, key, op string) (map[string][]byte, error) {
	start := time.Now()
	m, err := r.client.HGetAll(ctx, key).Result()
	r.timed(op, start)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out, nil
}

// SaveChannelState replaces one channel's state.
func (r *Redis) SaveChannelState(ctx context.Context, key string, data []byte) error {
	start := time.Now()
	err := r.client.HSet(ctx, r.names.channels(), key, data).Err()
	r.timed("channel_state", start)
	return wrapErr("save channel state", err)
}

// DeleteChannelState removes one channel's state; absent keys are fine.
func (r *Redis) DeleteChannelState(ctx context.Context, key string) error {
	start := time.Now()
	err := r.client.HDel(ctx, r.names.channels(), key).Err()
	r.timed("channel_state", start)
	return wrapErr("delete channel state", err)
}

// Blobs returns every stored blob of kind, by key: one hash per kind.
func (r *Redis) Blobs(ctx context.Context, kind string) (map[string][]byte, error) {
	out, err := r.hashBytes(ctx, r.names.blobs(kind), "blob")
	if err != nil {
		return nil, fmt.Errorf("store: blobs: %w", err)
	}
	return out, nil
}

// SaveBlob replaces one blob of kind.
func (r *Redis) SaveBlob(ctx context.Context, kind, key string, data []byte) error {
	start := time.Now()
	err := r.client.HSet(ctx, r.names.blobs(kind), key, data).Err()
	r.timed("blob", start)
	return wrapErr("save blob", err)
}

// DeleteBlob removes one blob of kind; absent keys are fine.
func (r *Redis) DeleteBlob(ctx context.Context, kind, key string) error {
	start := time.Now()
	err := r.client.HDel(ctx, r.names.blobs(kind), key).Err()
	r.timed("blob", start)
	return wrapErr("delete blob", err)
}

// Ping reports whether Redis answers; use it for readiness. On a cluster
// every master must answer, since each holds a share of the targets.
func (r *Redis) Ping(ctx context.Context) error {
	start := time.Now()
	var err error
	if cc, ok := r.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
	} else {
		err = r.client.Ping(ctx).Err()
	}
	r.timed("ping", start)
	return wrapErr("ping", err)
}

// Close closes both clients' connections.
func (r *Redis) Close() error {
	return wrapErr("close", errors.Join(r.writer.Close(), r.client.Close()))
}
