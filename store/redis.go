package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

var (
	_ Store         = (*Redis)(nil)
	_ BatchAppender = (*Redis)(nil)
)

// Redis stores history in one Redis Stream per target key, named
// <prefix>h:<key>, whose entry IDs are the records' millisecond times, so
// time queries become XRANGE bounds. A sorted set <prefix>targets maps each
// key to its newest record time for Targets. The keyring is the string
// <prefix>keyring and channel states the hash <prefix>channels. Every name
// is built from the prefix and the caller's opaque key only.
//
// Redis is safe for concurrent use; the go-redis client pools connections.
// Appends are the exception: they share one connection of their own
// (appends, raw RESP), a batch at a time, as the Queue's one writer needs.
type Redis struct {
	client  *redis.Client
	appends *appendConn
	prefix  string
	maxLen  int
	observe func(op string, d time.Duration)
	onIndex func(error)

	// mu guards top: the highest entry millisecond this process gave each
	// stream, so a batch whose records arrive slightly out of time order
	// (several writers took their timestamps concurrently) still gets
	// increasing IDs without a second round trip.
	mu  sync.Mutex
	top map[string]int64
}

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
// drops it from the targets set in the same atomic step, so a concurrent
// Append cannot be left out of the set.
const trimScript = `
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
if redis.call('XLEN', KEYS[1]) == 0 then
	redis.call('DEL', KEYS[1])
	redis.call('ZREM', KEYS[2], ARGV[2])
end
return 0`

// OpenRedis connects to the Redis server at rawURL (redis:// or rediss://)
// and checks that it answers, so a wrong address or password fails at
// startup. opts.Password, if set, replaces the URL's password. Errors never
// contain the URL, which may hold a password.
func OpenRedis(ctx context.Context, rawURL string, opts Options) (*Redis, error) {
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: parse redis URL: %w", redactURLError(err))
	}
	if opts.Password != "" {
		o.Password = opts.Password
	}
	// Single-node Redis has no maintenance notifications; asking for them
	// costs a round trip per connection.
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	r := newRedis(redis.NewClient(o), opts)
	if err := r.Ping(ctx); err != nil {
		_ = r.client.Close()
		return nil, fmt.Errorf("store: open redis: %w", err)
	}
	return r, nil
}

func newRedis(c *redis.Client, opts Options) *Redis {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Redis{
		client: c, appends: newAppendConn(c.Options()),
		prefix: prefix, maxLen: opts.MaxLen, observe: opts.ObserveLatency,
		onIndex: opts.OnIndexError, top: make(map[string]int64),
	}
}

// redactURLError drops the URL that net/url puts in its parse errors.
func redactURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

func (r *Redis) streamKey(key string) string { return r.prefix + "h:" + key }
func (r *Redis) targetsKey() string          { return r.prefix + "targets" }
func (r *Redis) keyringKey() string          { return r.prefix + "keyring" }
func (r *Redis) channelsKey() string         { return r.prefix + "channels" }

// timed reports one round trip that began at start to ObserveLatency.
func (r *Redis) timed(op string, start time.Time) { observe(r.observe, op, start) }

// Append adds rec at the end of key's stream; see AppendBatch.
func (r *Redis) Append(ctx context.Context, key string, rec Record) error {
	return r.AppendBatch(ctx, []KeyedRecord{{Key: key, Record: rec}})
}

// AppendBatch appends recs in one pipelined round trip. Each entry's ID is
// <ms>-<seq> from its record's time, so time queries become XRANGE bounds;
// a record older than its stream's newest entry (writers' times
// interleave, or the clock went back) is placed at that newest millisecond
// and keeps its own time in a field. If Redis still refuses an ID as not
// above the stream's top (another process wrote it), the entry is added
// with a Redis-assigned ID instead.
//
// The pipeline goes through r.appends as raw RESP, not through go-redis,
// whose per-command costs dominate at full load.
func (r *Redis) AppendBatch(ctx context.Context, recs []KeyedRecord) error {
	for _, kr := range recs {
		if _, err := recordMs(kr.Record); err != nil {
			return err
		}
	}
	if len(recs) == 0 {
		return nil
	}
	a := r.appends
	a.mu.Lock()
	defer a.mu.Unlock()
	var n int
	a.cmds, n = r.appendCommands(a.cmds[:0], recs)
	start := time.Now()
	replies, err := a.pipeline(ctx, n)
	r.timed("append", start)
	if err != nil {
		return wrapErr("append", err)
	}
	// Only the XADDs' replies decide the result: a failed ZADD leaves the
	// targets index behind, which does not justify writing every record
	// again, but the operator hears of it.
	if err := errors.Join(replies[len(recs):]...); err != nil && r.onIndex != nil {
		r.onIndex(err)
	}
	var stale []KeyedRecord
	for i, err := range replies[:len(recs)] {
		switch {
		case isStaleID(err):
			stale = append(stale, recs[i])
		case err != nil:
			return wrapErr("append", err)
		}
	}
	return wrapErr("append", r.appendAtTop(ctx, stale))
}

// appendAtTop adds recs, in one pipeline, with Redis-assigned IDs, each
// keeping its own time in a field. The caller holds r.appends.mu.
func (r *Redis) appendAtTop(ctx context.Context, recs []KeyedRecord) error {
	if len(recs) == 0 {
		return nil
	}
	a := r.appends
	a.cmds = a.cmds[:0]
	for _, kr := range recs {
		a.cmds = r.appendXAdd(a.cmds, kr, []byte("*"), kr.Time.UnixMilli(), true)
	}
	start := time.Now()
	replies, err := a.pipeline(ctx, len(recs))
	r.timed("append", start)
	if err != nil {
		return err
	}
	return errors.Join(replies...)
}

// appendCommands appends AppendBatch's pipeline to b and returns it with
// its number of commands: an XADD per record, then a ZADD per key, since
// the targets index needs each key's latest time once per batch, not once
// per record: a busy channel's batch is one ZADD, not 256.
func (r *Redis) appendCommands(b []byte, recs []KeyedRecord) ([]byte, int) {
	latest := make(map[string]int64, 4)
	var id [24]byte
	for _, kr := range recs {
		ms := kr.Time.UnixMilli()
		idMs := r.entryMs(kr.Key, ms)
		b = r.appendXAdd(b, kr, append(strconv.AppendInt(id[:0], idMs, 10), '-', '*'), ms, idMs != ms)
		latest[kr.Key] = max(latest[kr.Key], idMs)
	}
	for key, idMs := range latest {
		b = r.appendZAddGT(b, key, idMs)
	}
	return b, len(recs) + len(latest)
}

// appendXAdd appends the XADD of kr's entry with the given ID; withTime
// adds the record's time (ms) as a field, for an entry whose ID cannot
// carry it:
//
//	xadd <stream> [maxlen ~ <MaxLen>] <id> id <ID> d <Data> [t <ms>]
//
// TestAppendCommandsMatchGoRedis checks it against go-redis's XAdd.
func (r *Redis) appendXAdd(b []byte, kr KeyedRecord, id []byte, ms int64, withTime bool) []byte {
	n := 7
	if r.maxLen > 0 {
		n += 3
	}
	if withTime {
		n += 2
	}
	b = appendArray(b, n)
	b = appendBulk(b, "xadd")
	b = appendBulkConcat(b, r.prefix, "h:", kr.Key)
	if r.maxLen > 0 {
		b = appendBulk(b, "maxlen")
		b = appendBulk(b, "~")
		b = appendBulkInt(b, int64(r.maxLen))
	}
	b = appendBulk(b, id)
	b = appendBulk(b, fieldID)
	b = appendBulk(b, kr.ID)
	b = appendBulk(b, fieldData)
	b = appendBulk(b, kr.Data)
	if withTime {
		b = appendBulk(b, fieldTime)
		b = appendBulkInt(b, ms)
	}
	return b
}

// appendZAddGT appends the ZADD that go-redis sends for ZAddGT of key at
// score idMs (a float64 it writes without exponent, so the same digits):
//
//	zadd <targets> gt <idMs> <key>
func (r *Redis) appendZAddGT(b []byte, key string, idMs int64) []byte {
	b = appendArray(b, 5)
	b = appendBulk(b, "zadd")
	b = appendBulkConcat(b, r.prefix, "targets")
	b = appendBulk(b, "gt")
	b = appendBulkInt(b, idMs)
	return appendBulk(b, key)
}

// entryMs returns the millisecond for a new entry of key: the record's own,
// or the stream's newest if that is later, so IDs only grow.
func (r *Redis) entryMs(key string, ms int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if top := r.top[key]; top > ms {
		return top
	}
	r.top[key] = ms
	return ms
}

// isStaleID reports whether XADD failed because the ID was not above the
// stream's top entry.
func isStaleID(err error) bool {
	return err != nil && strings.Contains(err.Error(), "equal or smaller than the target stream top")
}

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
		msgs, err := r.page(ctx, r.streamKey(key), near, far, count, q.FromNewest)
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
// first, at most limit of them. A zero after or before is unbounded.
func (r *Redis) Targets(ctx context.Context, after, before time.Time, limit int) ([]TargetActivity, error) {
	if limit <= 0 {
		return nil, nil
	}
	lo, hi := targetBounds(after, before)
	by := &redis.ZRangeBy{Min: scoreBound(lo, "-inf"), Max: scoreBound(hi, "+inf"), Count: int64(limit)}
	start := time.Now()
	zs, err := r.client.ZRevRangeByScoreWithScores(ctx, r.targetsKey(), by).Result()
	r.timed("targets", start)
	if err != nil {
		return nil, fmt.Errorf("store: targets: %w", err)
	}
	out := make([]TargetActivity, 0, len(zs))
	for _, z := range zs {
		key, _ := z.Member.(string)
		out = append(out, TargetActivity{Key: key, Latest: msTime(int64(z.Score))})
	}
	return out, nil
}

// scoreBound renders an exclusive score bound, or inf for an open one.
func scoreBound(ms int64, inf string) string {
	if ms == math.MinInt64 || ms == math.MaxInt64 {
		return inf
	}
	return "(" + strconv.FormatInt(ms, 10)
}

// TrimBefore deletes every record positioned before t with XTRIM MINID on
// each stream in the targets set, and drops streams left empty from it.
// It walks the set with ZSCAN, a batch of streams per round trip.
func (r *Redis) TrimBefore(ctx context.Context, t time.Time) error {
	minID := strconv.FormatInt(max(t.UnixMilli(), 0), 10)
	var cursor uint64
	for {
		start := time.Now()
		pairs, next, err := r.client.ZScan(ctx, r.targetsKey(), cursor, "", 500).Result()
		r.timed("trim", start)
		if err != nil {
			return fmt.Errorf("store: trim: %w", err)
		}
		if err := r.trimBatch(ctx, minID, pairs); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// trimBatch trims the streams of pairs, ZSCAN's alternating members and
// scores.
func (r *Redis) trimBatch(ctx context.Context, minID string, pairs []string) error {
	if len(pairs) == 0 {
		return nil
	}
	start := time.Now()
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < len(pairs); i += 2 {
			keys := []string{r.streamKey(pairs[i]), r.targetsKey()}
			p.Eval(ctx, trimScript, keys, minID, pairs[i])
		}
		return nil
	})
	r.timed("trim", start)
	return wrapErr("trim", err)
}

// Keyring returns the stored keyring, or ErrNotFound.
func (r *Redis) Keyring(ctx context.Context) ([]byte, error) {
	start := time.Now()
	data, err := r.client.Get(ctx, r.keyringKey()).Bytes()
	r.timed("keyring", start)
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	return data, wrapErr("keyring", err)
}

// SaveKeyring replaces the stored keyring.
func (r *Redis) SaveKeyring(ctx context.Context, data []byte) error {
	start := time.Now()
	err := r.client.Set(ctx, r.keyringKey(), data, 0).Err()
	r.timed("keyring", start)
	return wrapErr("save keyring", err)
}

// ChannelStates returns every stored channel state, by key.
func (r *Redis) ChannelStates(ctx context.Context) (map[string][]byte, error) {
	start := time.Now()
	m, err := r.client.HGetAll(ctx, r.channelsKey()).Result()
	r.timed("channel_state", start)
	if err != nil {
		return nil, fmt.Errorf("store: channel states: %w", err)
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
	err := r.client.HSet(ctx, r.channelsKey(), key, data).Err()
	r.timed("channel_state", start)
	return wrapErr("save channel state", err)
}

// DeleteChannelState removes one channel's state; absent keys are fine.
func (r *Redis) DeleteChannelState(ctx context.Context, key string) error {
	start := time.Now()
	err := r.client.HDel(ctx, r.channelsKey(), key).Err()
	r.timed("channel_state", start)
	return wrapErr("delete channel state", err)
}

// Ping reports whether Redis answers; use it for readiness.
func (r *Redis) Ping(ctx context.Context) error {
	start := time.Now()
	err := r.client.Ping(ctx).Err()
	r.timed("ping", start)
	return wrapErr("ping", err)
}

// Close closes the append connection and the connection pool.
func (r *Redis) Close() error {
	r.appends.close()
	return wrapErr("close", r.client.Close())
}
