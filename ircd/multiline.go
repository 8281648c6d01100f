package ircd

import (
	"strconv"
	"strings"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/history"
	"securechat/ircd/transport"
	"securechat/ircd/wire"
)

// The draft/multiline limits, advertised in the capability's value. Each
// line a recipient gets carries the sender's prefix and the target again,
// so the lines bound the bytes queued per recipient as much as max-bytes
// does: 32 lines stay well inside the smallest send queue.
const (
	multilineMaxBytes = 4096
	multilineMaxLines = 32
	multilineType     = "draft/multiline"
	multilineConcat   = "draft/multiline-concat"
)

// multilineCapValue advertises the limits above; TestCapsAdvertised and
// TestMultilineErrors keep the two in step.
const multilineCapValue = "max-bytes=4096,max-lines=32"

// multilineBatch is a draft/multiline batch a client is sending: opened
// by BATCH +ref, filled by PRIVMSG or NOTICE lines tagged batch=ref,
// relayed as one message by BATCH -ref. Its client's reader goroutine
// owns it.
type multilineBatch struct {
	ref, target string
	label       string   // the opening line's label: the reply to the batch carries it
	tags        irc.Tags // client-only tags, which the opening line carries
	command     string   // PRIVMSG or NOTICE, from the first line
	lines       []*irc.Message
	bytes       int  // the combined message's length, line feeds included
	failed      bool // an error was reported: later lines are dropped
}

// opensClientBatch reports whether m opens a client batch, whose label
// belongs to the reply sent when the batch closes, not to BATCH + itself.
func opensClientBatch(m *irc.Message) bool {
	return m.Command == "BATCH" && strings.HasPrefix(m.Param(0), "+")
}

// labelOf is a stand-in command carrying label, for withLabel to label
// the replies to a batch.
func labelOf(label string) *irc.Message {
	return &irc.Message{Command: "BATCH", Tags: irc.Tags{"label": label}}
}

// batchFail sends FAIL BATCH code, labeled as the batch was.
func (c *Client) batchFail(label, code string, context ...string) {
	c.withLabel(labelOf(label), func() { c.fail("BATCH", code, context...) })
}

func handleBatch(c *Client, m *irc.Message) error {
	ref := m.Params[0]
	switch {
	case strings.HasPrefix(ref, "+") && len(ref) > 1:
		c.openBatch(m)
	case strings.HasPrefix(ref, "-") && c.mline != nil && ref[1:] == c.mline.ref:
		b := c.mline
		c.mline = nil
		if !b.failed {
			c.srv.endMultiline(c, b)
		}
	default:
		return failError{"MULTILINE_INVALID", []string{"No such open batch"}}
	}
	return nil
}

// openBatch starts a draft/multiline batch; other batch types, and a
// batch opened inside another, are refused.
// A refused batch stays open as failed, so that its lines are dropped
// rather than relayed one by one.
func (c *Client) openBatch(m *irc.Message) {
	label := m.Tags["label"]
	b := &multilineBatch{ref: m.Params[0][1:], target: m.Param(2), label: label, tags: clientTags(c, m), failed: true}
	switch {
	case c.mline != nil:
		c.batchFail(label, "MULTILINE_INVALID", "A batch is already open")
	case m.Param(1) != multilineType || len(m.Params) < 3:
		c.batchFail(label, "MULTILINE_INVALID", "Unsupported batch")
	case !c.caps.has(capMultiline) || !c.caps.has(capBatch):
		c.batchFail(label, "MULTILINE_INVALID", "Negotiate draft/multiline and batch first")
	default:
		b.failed = false
	}
	c.mline = b
}

// addToBatch takes m into c's open multiline batch if m is tagged with
// a batch reference, and reports whether it did. A tagged line that does
// not fit fails the batch. With no batch open, a batch tag is dropped
// like any other server tag a client sends, and the line is relayed.
func (c *Client) addToBatch(m *irc.Message) bool {
	ref, tagged := m.Tags["batch"]
	b := c.mline
	if !tagged || b == nil {
		return false
	}
	if b.failed {
		return true
	}
	if ref != b.ref {
		b.failed, b.lines = true, nil
		c.batchFail(b.label, "MULTILINE_INVALID", "Line tagged with another batch")
		return true
	}
	if code, context := b.add(m); code != "" {
		b.failed, b.lines = true, nil
		c.batchFail(b.label, code, context...)
	}
	return true
}

// batchLine returns c's open multiline batch if m claims a place in it
// (a line tagged with its reference, or the BATCH line closing it), and
// how many lines the batch held before m. Flood control lets such a line
// through free and charges it only if the batch does not take it in
// (tookIn): the opening BATCH line paid for the batch, which is relayed
// and stored as one message. A refused line, a line past the limits and
// every line of a failed batch pay, so a batch is never a way around
// flood control.
func (c *Client) batchLine(m *irc.Message) (*multilineBatch, int) {
	b := c.mline
	if b == nil || b.failed {
		return nil, 0
	}
	if ref, tagged := m.Tags["batch"]; (tagged && ref == b.ref) || (m.Command == "BATCH" && m.Param(0) == "-"+b.ref) {
		return b, len(b.lines)
	}
	return nil, 0
}

// tookIn reports whether line m, which batchLine gave b for, went into
// b: m closed b (which happens once), or b is still open, not failed,
// and holds more than held lines.
func (c *Client) tookIn(b *multilineBatch, held int, m *irc.Message) bool {
	if m.Command == "BATCH" && m.Param(0) == "-"+b.ref {
		return c.mline != b
	}
	return c.mline == b && !b.failed && len(b.lines) > held
}

// add appends line m to b, or returns the FAIL code and context that
// refuse it.
func (b *multilineBatch) add(m *irc.Message) (string, []string) {
	_, concat := m.Tags[multilineConcat]
	text := m.Param(1)
	first := len(b.lines) == 0
	if first {
		b.command, concat = m.Command, false
	}
	n := len(text)
	if !first && !concat {
		n++ // the line feed joining it to the previous line
	}
	switch {
	case m.Command != b.command || len(m.Params) < 2 || (concat && text == ""):
		return "MULTILINE_INVALID", []string{"Invalid multiline batch"}
	case wire.Casefold(m.Params[0]) != wire.Casefold(b.target):
		return "MULTILINE_INVALID_TARGET", []string{b.target, m.Params[0], "Invalid multiline target"}
	case b.bytes+n > multilineMaxBytes:
		return "MULTILINE_MAX_BYTES", []string{strconv.Itoa(multilineMaxBytes), "Multiline batch max-bytes exceeded"}
	case len(b.lines) >= multilineMaxLines:
		return "MULTILINE_MAX_LINES", []string{strconv.Itoa(multilineMaxLines), "Multiline batch max-lines exceeded"}
	}
	line := &irc.Message{Command: m.Command, Params: []string{"", text}}
	if concat {
		line.Tags = irc.Tags{multilineConcat: ""}
	}
	b.lines = append(b.lines, line)
	b.bytes += n
	return "", nil
}

// blank reports whether the batch has no text at all, which clients must
// not send.
func (b *multilineBatch) blank() bool {
	for _, l := range b.lines {
		if l.Params[1] != "" {
			return false
		}
	}
	return true
}

// endMultiline relays a closed batch as one message. Its reply (an error,
// or the ACK of a labeled batch whose sender gets no echo) carries the
// batch's label; an echo carries it on its opening BATCH line.
func (s *Server) endMultiline(c *Client, b *multilineBatch) {
	if b.blank() {
		c.batchFail(b.label, "MULTILINE_INVALID", "Empty multiline batch")
		return
	}
	c.lastMsg.Store(time.Now().UnixNano())
	echoed, err := s.relayMultiline(c, b)
	if err != nil || !echoed {
		c.withLabel(labelOf(b.label), func() {
			if err != nil {
				s.replyError(c, &irc.Message{Command: "BATCH"}, err)
			}
		})
	}
}

// relayMultiline delivers b to its target and reports whether c got an
// echo. Like a single line, a channel message takes its time and msgid,
// reaches every member, and enters history and the replay ring in one
// critical section of the channel's lock.
func (s *Server) relayMultiline(c *Client, b *multilineBatch) (echoed bool, err error) {
	ml := &multilineMsg{ref: s.newBatchRef()}
	if strings.HasPrefix(b.target, "#") {
		ch := s.lookupChannel(b.target)
		if ch == nil {
			return false, ircError{irc.ERR_NOSUCHCHANNEL, []string{b.target, "No such channel"}}
		}
		if err := ch.canSend(c); err != nil {
			return false, err
		}
		ml.e = b.entry(c, ch.name)
		s.relayMultilineChannel(c, ch, ml)
	} else {
		target := s.lookupClient(b.target)
		if target == nil {
			return false, ircError{irc.ERR_NOSUCHNICK, []string{b.target, "No such nick/channel"}}
		}
		ml.e = b.entry(c, target.Nick())
		ml.e.At = storedTime(time.Now())
		ml.e.MsgID = s.newMsgID(ml.e.At)
		s.appendDirect(c, target, ml.e)
		s.link.multiline(c, nil, target, ml.e)
		s.deliverMultiline(&c.pending, ml, []*Client{target}, c)
	}
	if !c.caps.has(capEchoMessage) {
		return false, nil
	}
	label := ""
	if c.caps.has(capLabeledResponse) {
		label = b.label
	}
	c.push(&c.pending, ml.serialize(ml.render(variantMultiline(c), "", label))...)
	return true, nil
}

// entry is the history entry of b sent by c to target, without its time
// and msgid.
func (b *multilineBatch) entry(c *Client, target string) *history.Entry {
	prefix := c.prefix()
	lines := make([]*irc.Message, len(b.lines))
	for i, l := range b.lines {
		lines[i] = &irc.Message{Tags: l.Tags, Prefix: prefix, Command: l.Command, Params: []string{target, l.Params[1]}}
	}
	first := &irc.Message{Tags: b.tags, Prefix: prefix, Command: b.command, Params: lines[0].Params}
	return &history.Entry{Msg: first, Lines: lines}
}

// relayMultilineChannel is relayChannel for a multiline message.
func (s *Server) relayMultilineChannel(c *Client, ch *Channel, ml *multilineMsg) {
	key := s.channelKey(ch)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.dead {
		return // renamed or dropped since the lookup
	}
	ml.e.At = storedTime(time.Now())
	ml.e.MsgID = s.newMsgID(ml.e.At)
	s.deliverMultiline(&c.pending, ml, ch.snapshot, c)
	s.link.multiline(c, ch, nil, ml.e)
	s.recordLocked(ch, key, ml.e)
}

// deliverMultiline queues ml for every local recipient but skip, for
// flushing by p, and counts the deliveries.
func (s *Server) deliverMultiline(p *transport.Pending, ml *multilineMsg, recipients []*Client, skip *Client) {
	n := 0
	for _, r := range recipients {
		if r != skip && r.remote == nil {
			r.push(p, ml.linesFor(r)...)
			n++
		}
	}
	s.countMultiline(ml, n)
}

func (s *Server) countMultiline(ml *multilineMsg, n int) {
	if n > 0 {
		s.metrics.Deliveries.Add(float64(n))
		s.metrics.Out(ml.e.Msg.Command).Add(float64(n))
	}
}

// multilineMsg is a multiline message being relayed: its entry and, per
// recipient variant, its serialized lines, made once on first use by the
// goroutine doing the fan-out.
type multilineMsg struct {
	e      *history.Entry
	ref    string // the reference of the batch that carries it
	replay bool   // from history: without server-time, the text shows the time
	lines  [8][][]byte
}

// Multiline variant bits: server-time, message-tags, and the batch form
// for clients with draft/multiline and batch (others get plain lines).
const (
	mlServerTime = 1 << iota
	mlMessageTags
	mlBatch
)

func variantMultiline(c *Client) int {
	v := 0
	if c.caps.has(capServerTime) {
		v |= mlServerTime
	}
	if c.caps.has(capMessageTags) {
		v |= mlMessageTags
	}
	if c.caps.has(capMultiline) && c.caps.has(capBatch) {
		v |= mlBatch
	}
	return v
}

func (ml *multilineMsg) linesFor(c *Client) [][]byte {
	v := variantMultiline(c)
	if ml.lines[v] == nil {
		ml.lines[v] = ml.serialize(ml.render(v, "", ""))
	}
	return ml.lines[v]
}

func (ml *multilineMsg) serialize(msgs []taggedMsg) [][]byte {
	out := make([][]byte, len(msgs))
	for i, t := range msgs {
		out[i] = wire.AppendLine(nil, t.tags, t.m)
	}
	return out
}

// render returns the lines of the message for variant v, inside batch
// outer if not "", with label on the first line if not "". The batch form
// is a draft/multiline batch whose opening line carries the time, msgid
// and client tags. The plain form drops blank lines, which clients
// without multiline must not get, and carries the msgid and client tags
// on its first line only, as the specification requires.
func (ml *multilineMsg) render(v int, outer, label string) []taggedMsg {
	e := ml.e
	st, mt := v&mlServerTime != 0, v&mlMessageTags != 0
	var out []taggedMsg
	add := func(tags []wire.Tag, m *irc.Message) {
		if len(out) == 0 && label != "" {
			tags = append(tags, wire.Tag{Key: "label", Value: label})
		}
		out = append(out, taggedMsg{tags, m})
	}
	if v&mlBatch != 0 {
		open := &irc.Message{Prefix: e.Msg.Prefix, Command: "BATCH", Params: []string{"+" + ml.ref, multilineType, e.Msg.Params[0]}}
		add(messageTags(nil, st, mt, e.At, e.MsgID, e.Msg.Tags, outer), open)
		for i, l := range e.Lines {
			tags := []wire.Tag{{Key: "batch", Value: ml.ref, Plain: true}}
			if _, concat := l.Tags[multilineConcat]; concat {
				tags = append(tags, wire.Tag{Key: multilineConcat})
			}
			add(tags, ml.lineText(l, i == 0 && !st))
		}
		add(messageTags(nil, false, false, time.Time{}, "", nil, outer),
			&irc.Message{Prefix: e.Msg.Prefix, Command: "BATCH", Params: []string{"-" + ml.ref}})
		return out
	}
	for _, l := range e.Lines {
		if l.Params[1] == "" {
			continue
		}
		first := len(out) == 0
		var msgid string
		var client irc.Tags
		if first {
			msgid, client = e.MsgID, e.Msg.Tags
		}
		add(messageTags(nil, st, mt, e.At, msgid, client, outer), ml.lineText(l, first && !st))
	}
	return out
}

// lineText is line l as sent, without tags. A replayed message's first
// line shows its time in the text when stamp is set, for clients without
// server-time, as replay does for single lines.
func (ml *multilineMsg) lineText(l *irc.Message, stamp bool) *irc.Message {
	m := &irc.Message{Prefix: l.Prefix, Command: l.Command, Params: l.Params}
	if stamp && ml.replay {
		m.Params = []string{l.Params[0], withTimestamp(l.Params[1], ml.e.At)}
	}
	return m
}

// replayMultiline sends a stored multiline message to c inside the
// chathistory batch ref (or none), through the label collector like any
// replayed line.
func (s *Server) replayMultiline(c *Client, e *history.Entry, ref string) {
	ml := &multilineMsg{e: e, ref: s.newBatchRef(), replay: true}
	for _, t := range ml.render(variantMultiline(c), ref, "") {
		c.sendTagged(t.tags, t.m)
	}
}
