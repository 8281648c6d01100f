// Package store keeps securechat's history and persistent state as opaque
// bytes. It knows nothing of IRC or encryption: callers pass opaque keys
// (keyed hashes of target names) and sealed payloads, so a copy of the
// backing database reveals neither names nor text.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a requested singleton (such as the keyring)
// has never been written, or a record to delete does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrRefused marks an append the backend refused because of the records
// themselves (too large, a time it cannot place, a key holding something
// else), not because it is unreachable. Retrying such a write is not
// expected to help, so the Queue discards its records after a few
// attempts instead of letting them block every later record.
var ErrRefused = errors.New("store: records refused")

// Record is one history entry. ID (the IRC msgid) and Time are stored in
// the clear because they order and index the history; Data is sealed by the
// caller and bound to ID, Time and the target key.
//
// Stores keep Time at millisecond precision and return it in UTC, so a
// caller that binds Time into the seal must truncate it first
// (rec.Time.Truncate(time.Millisecond)). Times before 1970 are refused.
type Record struct {
	ID   string
	Time time.Time
	Data []byte
}

// Ref names a position in a target's history: a time (millisecond
// precision), optionally refined by the msgid of a record at that time.
type Ref struct {
	Time time.Time
	ID   string
}

// Query selects records of one target. Results are always returned in
// ascending (oldest first) order.
//
// After and Before are exclusive bounds; nil means unbounded. When a bound
// carries an ID, records at the same millisecond are ordered by their append
// order and the record with that ID itself is excluded. FromNewest picks the
// Limit records closest to Before (or the newest ones) instead of those
// closest to After. Limit <= 0 means no records.
type Query struct {
	After      *Ref
	Before     *Ref
	Limit      int
	FromNewest bool
}

// TargetActivity reports that a target key has records, and the time of its
// newest one.
type TargetActivity struct {
	Key    string
	Latest time.Time
}

// History is an append-only, per-target log of sealed records.
type History interface {
	// Append adds rec at the end of key's log. Records are ordered by
	// append order; a record older than the newest (the clock went back)
	// keeps its Time but is positioned after the newest one (at its
	// millisecond, or for Redis at the server clock if that is later).
	Append(ctx context.Context, key string, rec Record) error
	// Query returns records of key selected by q, oldest first.
	Query(ctx context.Context, key string, q Query) ([]Record, error)
	// Targets lists keys whose newest record lies in (after, before),
	// newest first, at most limit of them. A zero after or before is
	// unbounded.
	Targets(ctx context.Context, after, before time.Time, limit int) ([]TargetActivity, error)
	// TrimBefore deletes every record positioned before t, across all
	// keys, and drops keys left empty from Targets.
	TrimBefore(ctx context.Context, t time.Time) error
	// DeleteTarget deletes every record of key and drops key from
	// Targets; an absent key is fine. A channel rename uses it once the
	// records are resealed under the new name's key.
	DeleteTarget(ctx context.Context, key string) error
	// Delete removes every record of key whose ID is ref.ID and that is
	// positioned at ref.Time's millisecond or later (a record is never
	// positioned before its own time; the write queue may have stored it
	// twice). Targets then reports the newest record left, and drops key
	// if none is. It returns ErrNotFound if key has no such record.
	Delete(ctx context.Context, key string, ref Ref) error
}

// KeyedRecord is a record with the key of the log it belongs to.
type KeyedRecord struct {
	Key string
	Record
}

// BatchAppender is implemented by backends that can append many records in
// one round trip; the write-behind Queue uses it when available.
type BatchAppender interface {
	// AppendBatch appends each record to its key's log, in order. On error
	// some records may have been written; the caller retries them all, so
	// writes are at least once.
	AppendBatch(ctx context.Context, recs []KeyedRecord) error
}

// State holds small named blobs that outlive a restart: the keyring, the
// sealed state of each channel, and sealed blobs of other kinds.
type State interface {
	// Keyring returns the stored keyring, or ErrNotFound.
	Keyring(ctx context.Context) ([]byte, error)
	// SaveKeyring replaces the stored keyring.
	SaveKeyring(ctx context.Context, data []byte) error
	// CreateKeyring stores data as the keyring only if none is stored,
	// and reports whether it did: nodes of a cluster starting together on
	// an empty store agree on the first one saved.
	CreateKeyring(ctx context.Context, data []byte) (bool, error)
	// ChannelStates returns every stored channel state, by key.
	ChannelStates(ctx context.Context) (map[string][]byte, error)
	// SaveChannelState replaces one channel's state.
	SaveChannelState(ctx context.Context, key string, data []byte) error
	// DeleteChannelState removes one channel's state; absent keys are fine.
	DeleteChannelState(ctx context.Context, key string) error
	// Blobs returns every stored blob of kind, by key. A kind is a short,
	// fixed, non-secret name ("account"); keys are opaque keyed hashes,
	// so neither reveals what a blob is about. Kinds never share keys.
	Blobs(ctx context.Context, kind string) (map[string][]byte, error)
	// SaveBlob replaces one blob of kind.
	SaveBlob(ctx context.Context, kind, key string, data []byte) error
	// DeleteBlob removes one blob of kind; absent keys are fine.
	DeleteBlob(ctx context.Context, kind, key string) error
}

// Store is everything securechat persists.
type Store interface {
	History
	State
	// Ping reports whether the backend is reachable.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}
