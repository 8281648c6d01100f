package ircd

import (
	"strings"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/history"
	"securechat/ircd/wire"
)

// entryOf is the history entry of a relayed message, with client-only
// tags but no server tags.
func entryOf(o *outMsg) *history.Entry {
	// One allocation for the entry and its copy of the message: every
	// relayed line makes one.
	both := &struct {
		e history.Entry
		m irc.Message
	}{e: history.Entry{MsgID: o.msgid, At: o.at}, m: *o.base}
	both.m.Tags = o.tags
	both.e.Msg = &both.m
	return &both.e
}

// recordDirect keeps a private message from one client to another.
func (s *Server) recordDirect(from, to *Client, o *outMsg) {
	if s.config().StoreDirect {
		s.appendDirect(from, to, entryOf(o))
	}
}

// channelKey is ch's opaque store key, computed once per channel: the
// keyed hash would otherwise cost an HMAC on every message.
func (s *Server) channelKey(ch *Channel) string {
	if k := ch.storeKey.Load(); k != nil {
		return *k
	}
	k := s.history.Key(ch.folded)
	ch.storeKey.Store(&k)
	return k
}

// loadRing fills a cold channel's replay ring from the store, once. It
// runs before the joiner c is added, outside ch.mu, since it may wait for
// the store, and flushes what c's reader queued so far before it waits;
// loadMu makes two joins of a cold channel read it once.
func (s *Server) loadRing(c *Client, ch *Channel) {
	limit := s.config().Replay
	if limit <= 0 {
		return
	}
	ch.loadMu.Lock()
	defer ch.loadMu.Unlock()
	ch.mu.Lock()
	loaded := ch.ring.Loaded()
	ch.mu.Unlock()
	if loaded {
		return
	}
	c.flushPending()
	stored, err := s.history.Tail(s.channelKey(ch), limit)
	if err != nil {
		s.log.Warn("replay unavailable", "err", err)
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.ring.Merge(stored, limit)
}

// replay sends a joining client the channel's recent entries before live
// traffic, and records how long that took. Nothing is sent when there is
// nothing to replay, so a join stays quiet in an empty channel.
func (s *Server) replay(c *Client, target string, entries []*history.Entry) {
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
// they lack server-time. JOIN replay and CHATHISTORY both use it, labeled
// or not.
func (s *Server) sendHistory(c *Client, target string, entries []*history.Entry) {
	ref := s.startBatch(c, "chathistory", target)
	st, mt := c.caps.has(capServerTime), c.caps.has(capMessageTags)
	var room [4]wire.Tag
	for _, e := range entries {
		if e.Lines != nil {
			s.replayMultiline(c, e, ref)
			continue
		}
		m := replayMessage(e, st)
		c.sendTagged(messageTags(room[:0], st, mt, e.At, e.MsgID, e.Msg.Tags, ref), &m)
	}
	s.endBatch(c, ref)
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

// replayMessage is e's message as replayed to a client with server-time
// (st) or without, whose text then starts with the original time. Its
// tags are the caller's to set.
func replayMessage(e *history.Entry, st bool) irc.Message {
	m := *e.Msg
	m.Tags = nil
	if n := len(m.Params); !st && n > 1 {
		m.Params = append([]string(nil), e.Msg.Params...)
		m.Params[n-1] = withTimestamp(m.Params[n-1], e.At)
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
