package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	_ Store         = (*Bolt)(nil)
	_ BatchAppender = (*Bolt)(nil)
)

// ErrInUse is returned by OpenBolt when another process holds the
// database file, such as a second daemon on the same data directory.
var ErrInUse = errors.New("store: database in use by another process")

// boltLockTimeout is how long OpenBolt waits for the file lock: long enough
// for a restarting daemon's predecessor to let go, short enough that a
// second daemon fails with a clear error instead of hanging.
const boltLockTimeout = 2 * time.Second

// Top-level buckets. Every name below them is "k" + the caller's opaque
// key (see boltName), so the file holds no other names than these.
var (
	bucketHistory  = []byte("history")  // one nested bucket of entries per key
	bucketMeta     = []byte("meta")     // key -> newest position and count
	bucketState    = []byte("state")    // singletons: the keyring
	bucketChannels = []byte("channels") // key -> channel state
	bucketBlobs    = []byte("blobs")    // kind -> nested bucket of key -> blob
	keyKeyring     = []byte("keyring")
)

// Bolt is the embedded store: one bbolt file that survives restarts, the
// default when no Redis URL is configured. A key's log is a bucket whose
// entries are keyed by position (millisecond, then a per-bucket sequence
// in append order), both big-endian so bbolt's byte order is history
// order. Bolt is safe for concurrent use: bbolt serialises writers and
// lets readers run alongside them.
type Bolt struct {
	db      *bolt.DB
	maxLen  int
	observe func(op string, d time.Duration)
}

// OpenBolt opens or creates the database file at path (mode 0600). It
// fails with ErrInUse if another process has it open. Only opts.MaxLen and
// opts.ObserveLatency apply.
func OpenBolt(path string, opts Options) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: boltLockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (is another securechatd running on this data directory?)", ErrInUse, path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketHistory, bucketMeta, bucketState, bucketChannels, bucketBlobs} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: set up %s: %w", path, err)
	}
	return &Bolt{db: db, maxLen: opts.MaxLen, observe: opts.ObserveLatency}, nil
}

// boltName is the bucket key for a caller's key. The prefix makes even an
// empty key a valid bbolt key.
func boltName(key string) []byte { return append([]byte{'k'}, key...) }

// entryKey is a log entry's position: ms, then seq, both big-endian.
func entryKey(ms int64, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(ms))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

func entryMs(k []byte) int64 { return int64(binary.BigEndian.Uint64(k)) }

// encodeEntry packs a record's own time, ID and data into a value.
func encodeEntry(ms int64, rec Record) []byte {
	v := make([]byte, 8, 8+binary.MaxVarintLen64+len(rec.ID)+len(rec.Data))
	binary.BigEndian.PutUint64(v, uint64(ms))
	v = binary.AppendUvarint(v, uint64(len(rec.ID)))
	v = append(v, rec.ID...)
	return append(v, rec.Data...)
}

// decodeEntry unpacks a value written by encodeEntry, copying out of
// bbolt's memory. A malformed value reads as an empty record, which the
// caller's seal check rejects.
func decodeEntry(k, v []byte) entry {
	e := entry{ms: entryMs(k)}
	if len(v) < 8 {
		return e
	}
	e.rec.Time = msTime(int64(binary.BigEndian.Uint64(v)))
	n, w := binary.Uvarint(v[8:])
	if w <= 0 || uint64(len(v)-8-w) < n {
		return e
	}
	rest := v[8+w:]
	e.rec.ID = string(rest[:n])
	e.rec.Data = slices.Clone(rest[n:])
	return e
}

// logMeta is what the meta bucket keeps per key: the newest position's
// millisecond (for Targets and to keep positions from going back) and how
// many entries the log holds (for MaxLen).
type logMeta struct {
	top   int64
	count uint64
}

func readMeta(v []byte) logMeta {
	if len(v) < 16 {
		return logMeta{}
	}
	return logMeta{top: int64(binary.BigEndian.Uint64(v)), count: binary.BigEndian.Uint64(v[8:])}
}

func (m logMeta) bytes() []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(m.top))
	binary.BigEndian.PutUint64(v[8:], m.count)
	return v
}

// Append adds rec at the end of key's log; see AppendBatch.
func (b *Bolt) Append(ctx context.Context, key string, rec Record) error {
	return b.AppendBatch(ctx, []KeyedRecord{{Key: key, Record: rec}})
}

// AppendBatch appends recs in one transaction, so a batch costs one disk
// sync and is written whole or not at all.
func (b *Bolt) AppendBatch(_ context.Context, recs []KeyedRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if err := checkTimes(recs); err != nil {
		return err
	}
	defer b.timed("append", time.Now())
	err := b.db.Update(func(tx *bolt.Tx) error {
		for _, kr := range recs {
			if err := b.appendTx(tx, kr); err != nil {
				return err
			}
		}
		return nil
	})
	return wrapErr("append", refusal(err))
}

// appendTx writes one record at the end of its log, positioned no earlier
// than the log's newest entry, and trims the log to MaxLen.
func (b *Bolt) appendTx(tx *bolt.Tx, kr KeyedRecord) error {
	ms := kr.Time.UnixMilli()
	name := boltName(kr.Key)
	log, err := tx.Bucket(bucketHistory).CreateBucketIfNotExists(name)
	if err != nil {
		return err
	}
	metas := tx.Bucket(bucketMeta)
	meta := readMeta(metas.Get(name))
	seq, err := log.NextSequence()
	if err != nil {
		return err
	}
	meta.top = max(meta.top, ms)
	if err := log.Put(entryKey(meta.top, seq), encodeEntry(ms, kr.Record)); err != nil {
		return err
	}
	meta.count++
	for b.maxLen > 0 && meta.count > uint64(b.maxLen) {
		if err := deleteFirst(log); err != nil {
			return err
		}
		meta.count--
	}
	return metas.Put(name, meta.bytes())
}

// deleteFirst removes the oldest entry of log.
func deleteFirst(log *bolt.Bucket) error {
	c := log.Cursor()
	if k, _ := c.First(); k == nil {
		return nil
	}
	return c.Delete()
}

// refusal marks the bbolt errors that concern the records themselves, not
// the disk, as ErrRefused.
func refusal(err error) error {
	if errors.Is(err, bolterrors.ErrKeyTooLarge) || errors.Is(err, bolterrors.ErrValueTooLarge) {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return err
}

// Query returns records of key selected by q, oldest first.
func (b *Bolt) Query(_ context.Context, key string, q Query) ([]Record, error) {
	lo, hi, ok := msRange(q)
	if !ok || q.Limit <= 0 {
		return nil, nil
	}
	defer b.timed("query", time.Now())
	w := newWindow(q)
	err := b.db.View(func(tx *bolt.Tx) error {
		log := tx.Bucket(bucketHistory).Bucket(boltName(key))
		if log == nil {
			return nil
		}
		if q.FromNewest {
			scanDown(log.Cursor(), lo, hi, w)
		} else {
			scanUp(log.Cursor(), lo, hi, w)
		}
		return nil
	})
	if err != nil {
		return nil, wrapErr("query", err)
	}
	return w.result(q.FromNewest), nil
}

// scanUp offers w the entries positioned in [lo, hi], oldest first.
func scanUp(c *bolt.Cursor, lo, hi int64, w *window) {
	for k, v := c.Seek(entryKey(lo, 0)); k != nil && entryMs(k) <= hi; k, v = c.Next() {
		if !w.add(decodeEntry(k, v)) {
			return
		}
	}
}

// scanDown offers w the entries positioned in [lo, hi], newest first.
func scanDown(c *bolt.Cursor, lo, hi int64, w *window) {
	for k, v := lastAtOrBefore(c, hi); k != nil && entryMs(k) >= lo; k, v = c.Prev() {
		if !w.add(decodeEntry(k, v)) {
			return
		}
	}
}

// lastAtOrBefore positions c at the newest entry positioned at or before
// millisecond hi.
func lastAtOrBefore(c *bolt.Cursor, hi int64) (k, v []byte) {
	if hi == math.MaxInt64 {
		return c.Last()
	}
	if k, _ := c.Seek(entryKey(hi+1, 0)); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// Targets lists keys whose newest record lies in (after, before), newest
// first, at most limit of them. A zero after or before is unbounded.
func (b *Bolt) Targets(_ context.Context, after, before time.Time, limit int) ([]TargetActivity, error) {
	lo, hi := targetBounds(after, before)
	defer b.timed("targets", time.Now())
	var out []TargetActivity
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).ForEach(func(name, v []byte) error {
			if ms := readMeta(v).top; ms > lo && ms < hi {
				out = append(out, TargetActivity{Key: string(name[1:]), Latest: msTime(ms)})
			}
			return nil
		})
	})
	if err != nil {
		return nil, wrapErr("targets", err)
	}
	return newestTargets(out, limit), nil
}

// TrimBefore deletes every record positioned before t, across all keys,
// and drops keys left empty, in one transaction.
func (b *Bolt) TrimBefore(_ context.Context, t time.Time) error {
	cut := t.UnixMilli()
	defer b.timed("trim", time.Now())
	err := b.db.Update(func(tx *bolt.Tx) error {
		metas := tx.Bucket(bucketMeta)
		var names [][]byte
		err := metas.ForEach(func(name, _ []byte) error {
			names = append(names, slices.Clone(name))
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range names {
			if err := trimLog(tx, name, cut); err != nil {
				return err
			}
		}
		return nil
	})
	return wrapErr("trim", err)
}

// trimLog deletes name's entries positioned before cut and, if none are
// left, the log and its meta.
func trimLog(tx *bolt.Tx, name []byte, cut int64) error {
	history, metas := tx.Bucket(bucketHistory), tx.Bucket(bucketMeta)
	log := history.Bucket(name)
	if log == nil {
		return metas.Delete(name)
	}
	meta := readMeta(metas.Get(name))
	c := log.Cursor()
	// Seek back to the first entry after each delete: bbolt's cursor may
	// skip an entry when Next follows Delete.
	for k, _ := c.First(); k != nil && entryMs(k) < cut; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
		meta.count--
	}
	if k, _ := c.First(); k == nil {
		if err := history.DeleteBucket(name); err != nil {
			return err
		}
		return metas.Delete(name)
	}
	return metas.Put(name, meta.bytes())
}

// DeleteTarget deletes key's log and its meta in one transaction.
func (b *Bolt) DeleteTarget(_ context.Context, key string) error {
	name := boltName(key)
	defer b.timed("delete", time.Now())
	err := b.db.Update(func(tx *bolt.Tx) error {
		history := tx.Bucket(bucketHistory)
		if history.Bucket(name) != nil {
			if err := history.DeleteBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Delete(name)
	})
	return wrapErr("delete target", err)
}

// Delete removes key's records with ID ref.ID positioned from ref.Time's
// millisecond on, in one transaction, and keeps the key's meta in step:
// its count, its newest position (for Targets), or its removal with the
// log once the log is empty.
func (b *Bolt) Delete(_ context.Context, key string, ref Ref) error {
	defer b.timed("delete", time.Now())
	name := boltName(key)
	err := b.db.Update(func(tx *bolt.Tx) error {
		history := tx.Bucket(bucketHistory)
		log := history.Bucket(name)
		if log == nil {
			return ErrNotFound
		}
		doomed := matchingEntries(log, max(ref.Time.UnixMilli(), 0), ref.ID)
		if len(doomed) == 0 {
			return ErrNotFound
		}
		for _, k := range doomed {
			if err := log.Delete(k); err != nil {
				return err
			}
		}
		metas := tx.Bucket(bucketMeta)
		last, _ := log.Cursor().Last()
		if last == nil {
			if err := history.DeleteBucket(name); err != nil {
				return err
			}
			return metas.Delete(name)
		}
		meta := readMeta(metas.Get(name))
		meta.count -= uint64(len(doomed))
		meta.top = entryMs(last)
		return metas.Put(name, meta.bytes())
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	return wrapErr("delete", err)
}

// matchingEntries returns the keys of log's entries positioned from
// millisecond from on whose record ID is id.
func matchingEntries(log *bolt.Bucket, from int64, id string) [][]byte {
	var out [][]byte
	c := log.Cursor()
	for k, v := c.Seek(entryKey(from, 0)); k != nil; k, v = c.Next() {
		if decodeEntry(k, v).rec.ID == id {
			out = append(out, slices.Clone(k))
		}
	}
	return out
}

// Keyring returns the stored keyring, or ErrNotFound.
func (b *Bolt) Keyring(context.Context) ([]byte, error) {
	defer b.timed("keyring", time.Now())
	var out []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bucketState).Cursor().Seek(keyKeyring)
		if k == nil || string(k) != string(keyKeyring) {
			return ErrNotFound
		}
		out = append([]byte{}, v...) // non-nil even when empty
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return out, wrapErr("keyring", err)
}

// SaveKeyring replaces the stored keyring.
func (b *Bolt) SaveKeyring(_ context.Context, data []byte) error {
	defer b.timed("keyring", time.Now())
	err := b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketState).Put(keyKeyring, data)
	})
	return wrapErr("save keyring", err)
}

// CreateKeyring stores data as the keyring unless one is stored.
func (b *Bolt) CreateKeyring(_ context.Context, data []byte) (bool, error) {
	defer b.timed("keyring", time.Now())
	created := false
	err := b.db.Update(func(tx *bolt.Tx) error {
		st := tx.Bucket(bucketState)
		if st.Get(keyKeyring) != nil {
			return nil
		}
		created = true
		return st.Put(keyKeyring, data)
	})
	return created, wrapErr("create keyring", err)
}

// ChannelStates returns every stored channel state, by key.
func (b *Bolt) ChannelStates(context.Context) (map[string][]byte, error) {
	defer b.timed("channel_state", time.Now())
	out := make(map[string][]byte)
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChannels).ForEach(func(name, v []byte) error {
			out[string(name[1:])] = append([]byte{}, v...)
			return nil
		})
	})
	if err != nil {
		return nil, wrapErr("channel states", err)
	}
	return out, nil
}

// SaveChannelState replaces one channel's state.
func (b *Bolt) SaveChannelState(_ context.Context, key string, data []byte) error {
	defer b.timed("channel_state", time.Now())
	err := b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChannels).Put(boltName(key), data)
	})
	return wrapErr("save channel state", err)
}

// DeleteChannelState removes one channel's state; absent keys are fine.
func (b *Bolt) DeleteChannelState(_ context.Context, key string) error {
	defer b.timed("channel_state", time.Now())
	err := b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChannels).Delete(boltName(key))
	})
	return wrapErr("delete channel state", err)
}

// Blobs returns every stored blob of kind, by key.
func (b *Bolt) Blobs(_ context.Context, kind string) (map[string][]byte, error) {
	defer b.timed("blob", time.Now())
	out := make(map[string][]byte)
	err := b.db.View(func(tx *bolt.Tx) error {
		kb := tx.Bucket(bucketBlobs).Bucket(boltName(kind))
		if kb == nil {
			return nil
		}
		return kb.ForEach(func(name, v []byte) error {
			out[string(name[1:])] = append([]byte{}, v...)
			return nil
		})
	})
	if err != nil {
		return nil, wrapErr("blobs", err)
	}
	return out, nil
}

// SaveBlob replaces one blob of kind.
func (b *Bolt) SaveBlob(_ context.Context, kind, key string, data []byte) error {
	defer b.timed("blob", time.Now())
	err := b.db.Update(func(tx *bolt.Tx) error {
		kb, err := tx.Bucket(bucketBlobs).CreateBucketIfNotExists(boltName(kind))
		if err != nil {
			return err
		}
		return kb.Put(boltName(key), data)
	})
	return wrapErr("save blob", err)
}

// DeleteBlob removes one blob of kind; absent keys are fine.
func (b *Bolt) DeleteBlob(_ context.Context, kind, key string) error {
	defer b.timed("blob", time.Now())
	err := b.db.Update(func(tx *bolt.Tx) error {
		if kb := tx.Bucket(bucketBlobs).Bucket(boltName(kind)); kb != nil {
			return kb.Delete(boltName(key))
		}
		return nil
	})
	return wrapErr("delete blob", err)
}

// Ping reports whether the database is still open.
func (b *Bolt) Ping(context.Context) error {
	return wrapErr("ping", b.db.View(func(*bolt.Tx) error { return nil }))
}

// Close releases the file and its lock.
func (b *Bolt) Close() error { return wrapErr("close", b.db.Close()) }

// timed reports an operation that began at start to ObserveLatency.
func (b *Bolt) timed(op string, start time.Time) { observe(b.observe, op, start) }
