package store

import "time"

// DefaultPrefix is the key prefix Redis uses when Options.Prefix is empty.
const DefaultPrefix = "sc:"

// Options configures a store. The zero value is usable.
type Options struct {
	// MaxLen is how many records each target key keeps; older ones are
	// dropped as new ones arrive. Redis trims whole stream nodes, so it may
	// keep up to about a hundred more; the memory store trims exactly.
	// Zero or less keeps everything (age retention is TrimBefore's job).
	MaxLen int
	// Password, when set, replaces the password of the Redis URL for AUTH.
	// It is read from a file by the caller and never logged.
	Password string
	// Prefix is put in front of every Redis key, so several daemons can
	// share a database. Empty means DefaultPrefix. On a Redis Cluster it
	// may not contain { or }, which would override the keys' hash tags.
	Prefix string
	// ObserveLatency, if not nil, is called after every Redis round trip
	// with a short, fixed operation name ("append", "query", "targets",
	// "trim", "keyring", "channel_state", "blob", "ping") and its duration, so the
	// daemon can export a histogram without store importing metrics. It
	// must be cheap and safe for concurrent use.
	ObserveLatency func(op string, d time.Duration)
	// OnIndexError, if not nil, is called when Redis stored a batch's
	// records but refused to update the CHATHISTORY TARGETS index. The
	// records are not written again for it (they are safe); the index
	// catches up with the target's next stored message. The error is
	// Redis's own reply and never contains record data.
	OnIndexError func(error)
}
