package ircd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
	"securechat/store"
)

// history is the one place where crypto and store meet: records are sealed
// here before they are queued for the store, and opened here when read.
// It is safe for concurrent use.
type history struct {
	srv         *Server
	sealLatency prometheus.Observer // resolved once; this is the hot path
	store       store.Store
	queue       *store.Queue
	// lastDropLog rate-limits the warning about dropped records.
	lastDropLog atomic.Int64
}

// logDrop warns about queue overflow at most every 10 seconds; the metric
// counts every drop.
func (h *history) logDrop() {
	now := time.Now().UnixNano()
	last := h.lastDropLog.Load()
	if now-last > int64(10*time.Second) && h.lastDropLog.CompareAndSwap(last, now) {
		h.srv.log.Warn("history write queue full, records are being dropped", "queued", h.queue.Depth())
	}
}

// entry is one stored message in memory: its msgid, time and the message
// as relayed, with client-only tags but no server tags.
type entry struct {
	msgid string
	at    time.Time
	msg   *irc.Message
}

const storeTimeout = 2 * time.Second

func newHistory(s *Server, st store.Store) *history {
	h := &history{srv: s, store: st, sealLatency: s.metrics.CryptoLatency.WithLabelValues("seal")}
	m := s.metrics
	h.queue = store.NewQueue(st, store.QueueOptions{
		Size: s.config().WriteQueueSize,
		OnDrop: func() {
			m.WriteQueueDrops.Inc()
			h.logDrop()
		},
		OnError: func(err error) {
			m.HistoryErrors.WithLabelValues("append").Inc()
			s.log.Warn("history write failed, will retry", "err", err)
		},
		OnWritten: func(n, waiting int) {
			m.HistoryAppends.Add(float64(n))
			m.WriteQueueDepth.Set(float64(waiting))
		},
	})
	return h
}

// dmName is the history name of a private conversation: both casefolded
// nicks, sorted, so either side finds it.
func dmName(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return "dm:" + a + " " + b
}

// recordChannel keeps o for replay and history and returns the members
// to deliver it to (see Channel.remember).
func (h *history) recordChannel(ch *Channel, o *outMsg) []*Client {
	e := o.entry()
	members := ch.remember(e, h.srv.config().Replay)
	h.append(h.channelKey(ch), e)
	return members
}

func (h *history) recordDirect(from, to *Client, o *outMsg) {
	if !h.srv.config().StoreDirect {
		return
	}
	h.append(h.srv.vault.TargetKey(dmName(from.foldedNick(), to.foldedNick())), o.entry())
}

func (o *outMsg) entry() *entry {
	// One allocation for the entry and its copy of the message: every
	// relayed line makes one.
	both := &struct {
		e entry
		m irc.Message
	}{e: entry{msgid: o.msgid, at: o.at}, m: *o.base}
	both.m.Tags = o.tags
	both.e.msg = &both.m
	return &both.e
}

// channelKey is ch's opaque store key, computed once per channel: the
// keyed hash would otherwise cost an HMAC on every message.
func (h *history) channelKey(ch *Channel) string {
	if k := ch.storeKey.Load(); k != nil {
		return *k
	}
	k := h.srv.vault.TargetKey(ch.folded)
	ch.storeKey.Store(&k)
	return k
}

// append seals e under the target's opaque key and queues it; it never
// blocks on the store.
func (h *history) append(key string, e *entry) {
	v, m := h.srv.vault, h.srv.metrics
	start := time.Now()
	sealed, err := v.Seal(key, e.msgid, e.at, wire.AppendLine(nil, wire.SortedTags(e.msg.Tags), e.msg))
	h.sealLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		m.HistoryErrors.WithLabelValues("seal").Inc()
		h.srv.log.Error("sealing a record failed", "err", err)
		return
	}
	h.queue.Append(key, store.Record{ID: e.msgid, Time: e.at, Data: sealed})
	m.WriteQueueDepth.Set(float64(h.queue.Depth()))
}

// read queries name's history and opens each record; records that fail to
// open are counted, logged and skipped, never fatal.
func (h *history) read(ctx context.Context, name string, q store.Query) ([]*entry, error) {
	return h.readKey(ctx, h.srv.vault.TargetKey(name), q)
}

// readKey is read for a target known only by its opaque key, as
// CHATHISTORY TARGETS learns them from the store.
func (h *history) readKey(ctx context.Context, key string, q store.Query) ([]*entry, error) {
	recs, err := h.store.Query(ctx, key, q)
	h.srv.metrics.HistoryReads.Inc()
	if err != nil {
		h.srv.metrics.HistoryErrors.WithLabelValues("read").Inc()
		return nil, fmt.Errorf("reading history: %w", err)
	}
	out := make([]*entry, 0, len(recs))
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

func (h *history) open(key string, r store.Record) *entry {
	m := h.srv.metrics
	start := time.Now()
	plain, err := h.srv.vault.Open(key, r.ID, r.Time, r.Data)
	m.CryptoLatency.WithLabelValues("open").Observe(time.Since(start).Seconds())
	if err == nil {
		if msg, perr := wire.Parse(plain); perr == nil {
			return &entry{msgid: r.ID, at: r.Time, msg: msg}
		}
	}
	m.HistoryErrors.WithLabelValues("open").Inc()
	h.srv.log.Warn("skipping a history record that does not open", "msgid", r.ID)
	return nil
}

// ensureLoaded fills a cold channel's replay ring from the store once, and
// returns the replay a joining client should get: the stored tail before
// the entries it already saw in memory.
func (h *history) ensureLoaded(ch *Channel, replay []*entry) []*entry {
	limit := h.srv.config().Replay
	if limit <= 0 {
		return nil
	}
	ch.loadMu.Lock()
	defer ch.loadMu.Unlock()
	ch.mu.Lock()
	loaded := ch.loaded
	ch.mu.Unlock()
	if loaded {
		return replay
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	stored, err := h.read(ctx, ch.folded, store.Query{Limit: limit, FromNewest: true})
	if err != nil {
		h.srv.log.Warn("replay unavailable", "err", err)
		return replay
	}
	ch.mu.Lock()
	stored = withoutLater(stored, ch.recent, replay)
	ch.recent = mergeEntries(stored, ch.recent, limit)
	ch.loaded = true
	ch.mu.Unlock()
	return mergeEntries(stored, replay, limit)
}

// withoutLater drops from stored the entries that reached the ring after
// the joiner's snapshot was taken: the joiner got those live, and the
// write-behind queue may already have stored them by the time the cold
// tail is read, which would otherwise replay them a second time.
func withoutLater(stored, ring, snapshot []*entry) []*entry {
	seen := make(map[string]bool, len(snapshot))
	for _, e := range snapshot {
		seen[e.msgid] = true
	}
	later := make(map[string]bool)
	for _, e := range ring {
		if !seen[e.msgid] {
			later[e.msgid] = true
		}
	}
	if len(later) == 0 {
		return stored
	}
	out := make([]*entry, 0, len(stored))
	for _, e := range stored {
		if !later[e.msgid] {
			out = append(out, e)
		}
	}
	return out
}

// mergeEntries puts the stored tail before the in-memory entries, dropping
// stored ones that memory already has or that are newer than it.
func mergeEntries(stored, mem []*entry, limit int) []*entry {
	if len(mem) == 0 {
		return lastN(stored, limit)
	}
	first := mem[0]
	out := make([]*entry, 0, len(stored)+len(mem))
	for _, e := range stored {
		if e.msgid == first.msgid || e.at.After(first.at) {
			break
		}
		out = append(out, e)
	}
	return lastN(append(out, mem...), limit)
}

func lastN(es []*entry, n int) []*entry {
	if len(es) > n {
		return es[len(es)-n:]
	}
	return es
}

// replay sends a joining client the channel's recent entries before live
// traffic, and records how long that took. Nothing is sent when there is
// nothing to replay, so a join stays quiet in an empty channel.
func (s *Server) replay(c *Client, target string, entries []*entry) {
	if len(entries) == 0 {
		return
	}
	start := time.Now()
	s.sendHistory(c, target, entries)
	s.metrics.ReplayMessages.Observe(float64(len(entries)))
	s.metrics.ReplayLatency.Observe(time.Since(start).Seconds())
}

// sendHistory sends entries as one chathistory batch to batch clients,
// even when empty so a CHATHISTORY caller knows the answer is complete;
// others get plain messages whose text starts with the original time when
// they lack server-time. Both JOIN replay and CHATHISTORY use it.
func (s *Server) sendHistory(c *Client, target string, entries []*entry) {
	ref := s.startBatch(c, "chathistory", target)
	if c.label != nil {
		for _, e := range entries {
			c.send(s.replayLine(c, e, ref))
		}
	} else {
		s.queueReplay(c, entries, ref)
	}
	s.endBatch(c, ref)
}

// queueReplay serializes entries straight into c's queue, as fan-out
// does: every rejoin replays 50 lines, too hot a path to build an
// irc.Message and its tag map for each. A labeled request goes through
// send instead, so the label collector sees the messages.
func (s *Server) queueReplay(c *Client, entries []*entry, ref string) {
	st, mt := c.caps.has(capServerTime), c.caps.has(capMessageTags)
	var line []byte
	var command string
	var out prometheus.Counter
	var room [4]wire.Tag
	for _, e := range entries {
		m := replayMessage(e, st)
		line = wire.AppendLine(line[:0], messageTags(room[:0], st, mt, e.at, e.msgid, e.msg.Tags, ref), &m)
		c.queue(line)
		if m.Command != command {
			command = m.Command
			out = s.metrics.Out(command)
		}
		out.Inc()
	}
}

// startBatch opens a batch of the given type for a batch client and
// returns its reference, or "" for a client without batch.
func (s *Server) startBatch(c *Client, kind string, params ...string) string {
	if !c.caps.has(capBatch) {
		return ""
	}
	ref := s.newBatchRef()
	p := append([]string{"+" + ref, kind}, params...)
	c.send(&irc.Message{Prefix: &irc.Prefix{Name: s.name()}, Command: "BATCH", Params: p})
	return ref
}

// endBatch closes a batch opened by startBatch; "" is no batch.
func (s *Server) endBatch(c *Client, ref string) {
	if ref != "" {
		c.send(&irc.Message{Prefix: &irc.Prefix{Name: s.name()}, Command: "BATCH", Params: []string{"-" + ref}})
	}
}

func (s *Server) replayLine(c *Client, e *entry, batch string) *irc.Message {
	st := c.caps.has(capServerTime)
	m := replayMessage(e, st)
	m.Tags = irc.Tags{}
	for _, t := range messageTags(nil, st, c.caps.has(capMessageTags), e.at, e.msgid, e.msg.Tags, batch) {
		m.Tags[t.Key] = t.Value
	}
	return &m
}

// replayMessage is e's message as replayed to a client with server-time
// (st) or without, whose text then starts with the original time. Its
// tags are the caller's to set.
func replayMessage(e *entry, st bool) irc.Message {
	m := *e.msg
	m.Tags = nil
	if n := len(m.Params); !st && n > 1 {
		m.Params = append([]string(nil), e.msg.Params...)
		m.Params[n-1] = withTimestamp(m.Params[n-1], e.at)
	}
	return m
}

// withTimestamp prefixes text with its original time, keeping a CTCP
// ACTION intact.
func withTimestamp(text string, at time.Time) string {
	stamp := "[" + at.UTC().Format("2006-01-02 15:04:05") + " UTC] "
	if rest, ok := strings.CutPrefix(text, "\x01ACTION "); ok {
		return "\x01ACTION " + stamp + rest
	}
	return stamp + text
}

// chanState is the persisted form of a channel, sealed before it is stored.
type chanState struct {
	Name        string      `json:"name"`
	Created     time.Time   `json:"created"`
	Topic       string      `json:"topic,omitempty"`
	TopicSetter string      `json:"topic_setter,omitempty"`
	TopicAt     time.Time   `json:"topic_at,omitzero"`
	Modes       string      `json:"modes"`
	Key         string      `json:"key,omitempty"`
	Limit       int         `json:"limit,omitempty"`
	Bans        []banRecord `json:"bans,omitempty"`
}

type banRecord struct {
	Mask   string    `json:"mask"`
	Setter string    `json:"setter"`
	At     time.Time `json:"at"`
}

// stateMsgID is the msgid bound into sealed channel state, so a state blob
// can never pass for a history record or the other way round.
const stateMsgID = "channel-state"

// saveChannel seals and stores ch's settings, or deletes them when the
// channel is back to defaults. It waits for the store (bounded), since
// settings are rare and must not be silently lost.
func (h *history) saveChannel(ch *Channel) {
	st, keep := ch.state()
	key := h.srv.vault.TargetKey(ch.folded)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	var err error
	if !keep {
		err = h.store.DeleteChannelState(ctx, key)
	} else {
		err = h.sealState(ctx, key, st)
	}
	if err != nil {
		h.srv.metrics.HistoryErrors.WithLabelValues("append").Inc()
		h.srv.log.Error("saving channel state failed", "err", err)
	}
}

func (h *history) sealState(ctx context.Context, key string, st chanState) error {
	plain, err := json.Marshal(st)
	if err != nil {
		return err
	}
	sealed, err := h.srv.vault.Seal(key, stateMsgID, time.Unix(0, 0), plain)
	if err != nil {
		return err
	}
	return h.store.SaveChannelState(ctx, key, sealed)
}

// loadChannels restores persisted channels at start-up.
func (s *Server) loadChannels() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	states, err := s.history.store.ChannelStates(ctx)
	if err != nil {
		return fmt.Errorf("loading channel state: %w", err)
	}
	for key, sealed := range states {
		plain, err := s.vault.Open(key, stateMsgID, time.Unix(0, 0), sealed)
		var st chanState
		if err == nil {
			err = json.Unmarshal(plain, &st)
		}
		if err != nil || !validChannel(st.Name) || s.vault.TargetKey(casefold(st.Name)) != key {
			s.metrics.HistoryErrors.WithLabelValues("open").Inc()
			s.log.Warn("skipping channel state that does not open")
			continue
		}
		ch := newChannel(st.Name)
		ch.restore(st)
		s.channels[ch.folded] = ch
		s.metrics.Channels.Inc()
	}
	return nil
}

func (h *history) ping(ctx context.Context) error { return h.store.Ping(ctx) }

// close flushes the write queue and stops it.
func (h *history) close(ctx context.Context) error {
	err := h.queue.Close(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		h.srv.log.Error("history queue not flushed before shutdown deadline", "waiting", h.queue.Depth())
	}
	return err
}
