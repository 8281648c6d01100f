package ircd

import (
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/history"
	"securechat/ircd/transport"
	"securechat/ircd/wire"
)

// outMsg is one message for many recipients. Each recipient gets one of a
// few variants depending on its capabilities; each variant is serialized
// once, on first use, by the goroutine doing the fan-out.
type outMsg struct {
	base     *irc.Message // without server tags
	extended *irc.Message // extended-join form, if different
	msgid    string
	at       time.Time
	tags     irc.Tags // client-only tags to forward with message-tags
	batch    string   // batch reference, for replay
	account  string   // the sender's account, for account-tag; "" for none
	lines    [16][]byte
}

// variant indexes outMsg.lines by the capabilities that change the line.
func variant(c *Client) int {
	v := 0
	if c.caps.has(capServerTime) {
		v |= 1
	}
	if c.caps.has(capMessageTags) {
		v |= 2
	}
	if c.caps.has(capExtendedJoin) {
		v |= 4
	}
	if c.caps.has(capAccountTag) {
		v |= 8
	}
	return v
}

// lineFor returns the serialized line for c.
func (o *outMsg) lineFor(c *Client) []byte {
	v := o.variantOf(c)
	if o.lines[v] == nil {
		var room [4]wire.Tag
		tags, m := o.render(room[:0], v)
		o.lines[v] = wire.AppendLine(nil, tags, m)
	}
	return o.lines[v]
}

func (o *outMsg) variantOf(c *Client) int {
	v := variant(c)
	if o.extended == nil {
		v &^= 4
	}
	if o.account == "" {
		v &^= 8
	}
	return v
}

// render returns the message and tags of variant v, appending the tags
// to room.
func (o *outMsg) render(room []wire.Tag, v int) ([]wire.Tag, *irc.Message) {
	m := o.base
	if v&4 != 0 {
		m = o.extended
	}
	tags := messageTags(room, v&1 != 0, v&2 != 0, o.at, o.msgid, o.tags, o.batch)
	if v&8 != 0 {
		tags = append(tags, wire.Tag{Key: "account", Value: o.account})
	}
	return tags, m
}

// messageTags lists the tags a relayed or replayed message carries for a
// recipient with server-time (st) and message-tags (mt): its time, its
// msgid and client-only tags, and the batch it belongs to, if any. They
// are appended to tags, which callers size on their stack.
func messageTags(tags []wire.Tag, st, mt bool, at time.Time, msgid string, client irc.Tags, batch string) []wire.Tag {
	if st && !at.IsZero() {
		tags = append(tags, wire.Tag{Key: "time", Value: serverTime(at), Plain: true})
	}
	if mt {
		if msgid != "" {
			tags = append(tags, wire.Tag{Key: "msgid", Value: msgid, Plain: true})
		}
		tags = append(tags, wire.SortedTags(client)...)
	}
	if batch != "" {
		tags = append(tags, wire.Tag{Key: "batch", Value: batch, Plain: true})
	}
	return tags
}

// deliver queues o for every recipient accepted by want (nil: all) and
// flushes each at once. Any goroutine.
func (s *Server) deliver(recipients []*Client, o *outMsg, want func(*Client) bool) {
	s.deliverTo(nil, recipients, o, want)
}

// deliverTo queues o for every recipient accepted by want, for flushing by
// p (nil: at once), which belongs to the calling goroutine.
func (s *Server) deliverTo(p *transport.Pending, recipients []*Client, o *outMsg, want func(*Client) bool) {
	n := 0
	for _, r := range recipients {
		if r.remote != nil || want != nil && !want(r) {
			continue // a remote user's node delivers to it
		}
		r.push(p, o.lineFor(r))
		n++
	}
	s.countDeliveries(o, n)
}

// relayChannel relays a channel message from c to every other member. The
// message takes its time and msgid, is queued for every member, and enters
// the history queue and the replay ring (unless a TAGMSG), all in one
// critical section of the channel's lock, so the ring, history and every
// member see the channel's messages in one order. c's reader flushes the
// members' queues at the end of its read loop.
func (s *Server) relayChannel(c *Client, ch *Channel, o *outMsg) {
	stored := o.base.Command != "TAGMSG"
	key := s.channelKey(ch)
	want := wantMessage(c, o.base.Command)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.dead {
		return // renamed or dropped since the lookup: its key is no longer its own
	}
	o.at = storedTime(time.Now())
	o.msgid = s.newMsgID(o.at)
	s.deliverTo(&c.pending, ch.snapshot, o, want)
	s.link.channelMessage(c, ch, o)
	if !stored {
		return
	}
	s.recordLocked(ch, key, entryOf(o))
}

// recordLocked appends a relayed message to ch's history and its replay
// ring, in the critical section that queued it for the members; ch.mu is
// held.
func (s *Server) recordLocked(ch *Channel, key string, e *history.Entry) {
	s.history.AppendChannel(key, ch.folded, e)
	s.keepLocked(ch, e)
}

// keepLocked adds e to ch's replay ring; ch.mu is held. A message from
// another node of a cluster only enters the ring: its node stored it.
func (s *Server) keepLocked(ch *Channel, e *history.Entry) {
	if keep := s.config().Replay; keep > 0 {
		ch.ring.Add(e, keep)
	}
}

// countDeliveries counts o delivered to n recipients.
func (s *Server) countDeliveries(o *outMsg, n int) {
	if n == 0 {
		return
	}
	s.metrics.Deliveries.Add(float64(n))
	s.metrics.Out(o.base.Command).Add(float64(n))
}

// neighbours returns every client sharing a channel with c, without c.
func (c *Client) neighbours() []*Client {
	seen := make(map[*Client]struct{})
	var out []*Client
	for _, ch := range c.channelList() {
		for _, m := range ch.Members() {
			if _, dup := seen[m]; dup || m == c {
				continue
			}
			seen[m] = struct{}{}
			out = append(out, m)
		}
	}
	return out
}

// notifyNeighbours sends m to everyone sharing a channel with c (with cap,
// when cap != 0), and to c itself when self is set.
func (s *Server) notifyNeighbours(c *Client, m *irc.Message, cp capability, self bool) {
	o := &outMsg{base: m, at: time.Now(), account: c.account()}
	recipients := c.neighbours()
	if self {
		recipients = append(recipients, c)
	}
	s.deliver(recipients, o, func(r *Client) bool { return cp == 0 || r.caps.has(cp) })
}
