package ircd

import (
	"time"

	"gopkg.in/irc.v4"

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
	lines    [8][]byte
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
	return v
}

// lineFor returns the serialized line for c.
func (o *outMsg) lineFor(c *Client) []byte {
	v := variant(c)
	if o.extended == nil {
		v &^= 4
	}
	if o.lines[v] == nil {
		o.lines[v] = o.render(v)
	}
	return o.lines[v]
}

func (o *outMsg) render(v int) []byte {
	m := o.base
	if v&4 != 0 {
		m = o.extended
	}
	var room [4]wire.Tag
	tags := messageTags(room[:0], v&1 != 0, v&2 != 0, o.at, o.msgid, o.tags, o.batch)
	return wire.AppendLine(nil, tags, m)
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

// mayWait lists the commands whose notices may wait a little for another
// line to share their write: in a big channel of phones coming and going,
// joins and quits would otherwise cost every member a system call each.
var mayWait = map[string]bool{"JOIN": true, "PART": true, "QUIT": true}

// deliver queues o for every recipient accepted by want (nil: all).
func (s *Server) deliver(recipients []*Client, o *outMsg, want func(*Client) bool) {
	msgs := [1]*outMsg{o}
	s.deliverAll(recipients, msgs[:], want)
}

// deliverAll queues msgs, in order, for every recipient accepted by want,
// each recipient's lines in one push: to a busy client the queue's lock,
// last written by another core, costs more than the lines. Lines that may
// wait (see mayWait) wait only if they all may.
func (s *Server) deliverAll(recipients []*Client, msgs []*outMsg, want func(*Client) bool) {
	kind := pushLazy
	for _, o := range msgs {
		if !mayWait[o.base.Command] {
			kind = pushNow
		}
	}
	var room [maxBurst][]byte
	n := 0
	for _, r := range recipients {
		if want != nil && !want(r) {
			continue
		}
		lines := room[:0]
		for _, o := range msgs {
			lines = append(lines, o.lineFor(r))
		}
		r.queueAll(lines, kind)
		n++
	}
	s.countDeliveries(msgs, n)
}

// countDeliveries counts msgs delivered to n recipients each, adding to
// the lines-sent counter (a cache line every core writes) once per stretch
// of the same command rather than once per message.
func (s *Server) countDeliveries(msgs []*outMsg, n int) {
	if n == 0 {
		return
	}
	s.metrics.Deliveries.Add(float64(n * len(msgs)))
	stretch := 0
	for i, o := range msgs {
		stretch++
		if cmd := o.base.Command; i == len(msgs)-1 || msgs[i+1].base.Command != cmd {
			s.metrics.Out(cmd).Add(float64(n * stretch))
			stretch = 0
		}
	}
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
	o := &outMsg{base: m, at: time.Now()}
	recipients := c.neighbours()
	if self {
		recipients = append(recipients, c)
	}
	s.deliver(recipients, o, func(r *Client) bool { return cp == 0 || r.caps.has(cp) })
}
