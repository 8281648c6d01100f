// Package history is securechat's sealed history: the one place where the
// vault (crypto) and the store meet. Protocol code hands it messages and
// channel settings in the clear; it seals them, keys them by opaque target
// keys and writes them behind a bounded queue, so a slow or absent store
// never stalls live chat. It reads records back and opens them, keeps the
// CHATHISTORY TARGETS index, and does the keyring upkeep (rotation and
// retention). It never calls back into the server.
package history

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/irc.v4"

	"securechat/crypto"
	"securechat/metrics"
	"securechat/store"
)

// Query and Ref select records of one target; see store.Query.
type (
	Query = store.Query
	Ref   = store.Ref
)

// Entry is one message in the clear: its msgid, time and the message as
// relayed, with client-only tags but no server tags.
//
// A draft/multiline message is one entry: Msg is its first line, with the
// message's client tags, and Lines holds every line in order, the first
// included, each tagged only with draft/multiline-concat where the client
// set it. Lines is nil for a single-line message.
type Entry struct {
	MsgID string
	At    time.Time
	Msg   *irc.Message
	Lines []*irc.Message
}

// Options configures a History. Metrics is required.
type Options struct {
	// QueueSize is how many sealed records may wait for the store.
	QueueSize int
	Metrics   *metrics.Metrics
	Log       *slog.Logger
	// Shared says the nodes of a cluster share the store: a keyring
	// another node saved under the same password is adopted, not
	// refused (see keyringUnchanged).
	Shared bool
}

// History is safe for concurrent use.
type History struct {
	vault  *crypto.Vault
	store  store.Store
	queue  *store.Queue
	states *stateWriter
	index  *targetIndex
	moves  moves // channel renames moving history between keys
	m      *metrics.Metrics
	log    *slog.Logger
	shared bool // Options.Shared

	sealLatency, openLatency prometheus.Observer // resolved once: hot path
	lastDropLog              atomic.Int64        // unix nanos of the last drop warning
	bgCtx                    context.Context     // ended by stop
	stop                     context.CancelFunc  // ends the background goroutines
	bg                       sync.WaitGroup      // the background goroutines
}

// storeTimeout bounds one synchronous store call made for a client.
const storeTimeout = 2 * time.Second

// New starts a History over st, sealing with v. Close stops it.
func New(v *crypto.Vault, st store.Store, opts Options) *History {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	h := &History{
		vault: v, store: st, m: opts.Metrics, log: opts.Log, shared: opts.Shared,
		index:       newTargetIndex(),
		sealLatency: opts.Metrics.CryptoLatency.WithLabelValues(metrics.OpSeal),
		openLatency: opts.Metrics.CryptoLatency.WithLabelValues(metrics.OpOpen),
	}
	h.queue = store.NewQueue(st, store.QueueOptions{
		Size:      opts.QueueSize,
		OnDrop:    h.onDrop,
		OnError:   h.onWriteError,
		OnWritten: h.onWritten,
		OnDiscard: h.onDiscard,
	})
	h.states = newStateWriter(h)
	ctx, cancel := context.WithCancel(context.Background())
	h.bgCtx, h.stop = ctx, cancel
	h.bg.Add(2)
	go func() {
		defer h.bg.Done()
		h.warmIndex(ctx)
	}()
	go func() {
		defer h.bg.Done()
		h.states.run(ctx)
	}()
	return h
}

func (h *History) onDrop() {
	h.m.WriteQueueDrops.Inc()
	// Warn at most every 10 seconds; the metric counts every drop.
	now := time.Now().UnixNano()
	last := h.lastDropLog.Load()
	if now-last > int64(10*time.Second) && h.lastDropLog.CompareAndSwap(last, now) {
		h.log.Warn("history write queue full, records are being dropped", "queued", h.queue.Depth())
	}
}

func (h *History) onWriteError(err error) {
	h.m.HistoryErrors.WithLabelValues(metrics.OpAppend).Inc()
	h.log.Warn("history write failed, will retry", "err", err)
}

// onDiscard reports records the store refused again and again: they are
// dropped so that later records are not held up behind them forever.
func (h *History) onDiscard(n int, err error) {
	h.m.WriteQueueDrops.Add(float64(n))
	h.log.Error("history records refused by the store were dropped", "records", n, "err", err)
}

func (h *History) onWritten(n, waiting int) {
	h.m.HistoryAppends.Add(float64(n))
	h.m.WriteQueueDepth.Set(float64(waiting))
}

// CheckPassword reports, in constant time, whether pw is the room
// password.
func (h *History) CheckPassword(pw []byte) bool { return h.vault.CheckPassword(pw) }

// Key returns the opaque store key of a target given its casefolded
// name. It costs an HMAC: callers that use a key often keep it.
func (h *History) Key(folded string) string { return h.vault.TargetKey(folded) }

// directName is the history name of a private conversation: both
// casefolded nicks, sorted, so either side finds it.
func directName(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return "dm:" + a + " " + b
}

// DirectKey returns the store key of the conversation between two
// casefolded nicks.
func (h *History) DirectKey(a, b string) string { return h.Key(directName(a, b)) }

// AppendChannel seals e into the history of the channel with store key
// key and casefolded name folded. It never blocks on the store; the
// order of calls for one channel is the order of its history.
func (h *History) AppendChannel(key, folded string, e *Entry) {
	h.append(key, e, false)
	h.index.note(folded, key, e.Msg.Param(0), e.At)
}

// AppendDirect seals e, a private message from one party to another,
// into their conversation's history: the pair of accounts' when both
// are logged in (see PairKey), else the pair of nicks'.
func (h *History) AppendDirect(from, to Party, e *Entry) {
	if from.Account != "" && to.Account != "" {
		h.appendPair(from, to, e)
		return
	}
	key := h.DirectKey(from.Nick, to.Nick)
	h.append(key, e, false)
	if e.Msg.Prefix != nil {
		h.index.note(from.Nick, key, e.Msg.Param(0), e.At)
		h.index.note(to.Nick, key, e.Msg.Prefix.Name, e.At)
	}
}

// append seals e under key, with the pair subkey if pair, and queues it.
func (h *History) append(key string, e *Entry, pair bool) {
	// The seal binds the time, and the store hands it back in whole
	// milliseconds: seal that, or the record could never be opened.
	at := e.At.Truncate(time.Millisecond)
	start := time.Now()
	seal := h.vault.Seal
	if pair {
		seal = h.vault.SealPair
	}
	sealed, err := seal(key, e.MsgID, at, e.plaintext())
	h.sealLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		h.m.HistoryErrors.WithLabelValues(metrics.OpSeal).Inc()
		h.log.Error("sealing a record failed", "err", err)
		return
	}
	rec := store.Record{ID: e.MsgID, Time: at, Data: sealed}
	if h.moves.hold(key, rec) {
		return
	}
	h.queue.Append(key, rec)
	h.m.WriteQueueDepth.Set(float64(h.queue.Depth()))
}

// Read queries key's history and opens each record; records that fail to
// open are counted, logged and skipped, never fatal.
func (h *History) Read(ctx context.Context, key string, q Query) ([]*Entry, error) {
	h.moves.wait(ctx, key) // a renamed channel's history is still arriving
	recs, err := h.store.Query(ctx, key, q)
	h.m.HistoryReads.Inc()
	if err != nil {
		h.m.HistoryErrors.WithLabelValues(metrics.OpRead).Inc()
		return nil, fmt.Errorf("reading history: %w", err)
	}
	out := make([]*Entry, 0, len(recs))
	for i, r := range recs {
		if i > 0 && r.ID == recs[i-1].ID {
			continue // the write queue is at-least-once
		}
		if e := h.open(key, r); e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

func (h *History) open(key string, r store.Record) *Entry {
	start := time.Now()
	plain, err := h.vault.Open(key, r.ID, r.Time, r.Data)
	h.openLatency.Observe(time.Since(start).Seconds())
	if err == nil {
		if e := parseEntry(plain); e != nil {
			e.MsgID, e.At = r.ID, r.Time
			return e
		}
	}
	h.m.HistoryErrors.WithLabelValues(metrics.OpOpen).Inc()
	h.log.Warn("skipping a history record that does not open", "msgid", r.ID)
	return nil
}

// Flush waits, until ctx ends, for the records queued so far to reach the
// store, so a client that asks for history sees what it just sent.
func (h *History) Flush(ctx context.Context) error { return h.queue.Flush(ctx) }

// Ping reports whether the store answers.
func (h *History) Ping(ctx context.Context) error { return h.store.Ping(ctx) }

// Close writes the channel settings and the records still queued, until
// ctx ends, and stops the background work. The store stays open: its
// owner closes it.
func (h *History) Close(ctx context.Context) error {
	moveErr := h.moves.waitAll(ctx)
	stateErr := h.states.waitIdle(ctx)
	h.stop()
	h.bg.Wait()
	err := h.queue.Close(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		h.log.Error("history queue not flushed before shutdown deadline", "waiting", h.queue.Depth())
	}
	return errors.Join(moveErr, stateErr, err)
}
