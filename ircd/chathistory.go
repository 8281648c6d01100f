package ircd

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/irc.v4"

	"securechat/store"
)

// chathistoryMax is the most messages one CHATHISTORY request returns
// (ISUPPORT CHATHISTORY=); larger limits are capped, not refused.
const chathistoryMax = 100

// flushWait bounds how long CHATHISTORY waits for the write-behind queue.
// Records reach the store asynchronously, so without the wait a client
// asking right after it spoke would not see its own message; the bound
// keeps a slow or absent store from stalling the client's reader.
const flushWait = 200 * time.Millisecond

// targetsScan bounds how many active store keys CHATHISTORY TARGETS looks
// at. The store cannot filter by what a client may see, so the selection
// happens here, over at most this many of the most recent keys.
const targetsScan = 1000

// historyRequest is one parsed CHATHISTORY query for a single target.
type historyRequest struct {
	sub    string
	target string
	refs   []*store.Ref // nil entries stand for "*"
	limit  int
}

// handleChathistory answers the IRCv3 draft/chathistory command. Every
// answer is a chathistory batch (possibly empty) or a FAIL; targets the
// client may not read get INVALID_TARGET whether or not they exist.
func handleChathistory(c *Client, m *irc.Message) error {
	sub := strings.ToUpper(m.Params[0])
	if sub == "TARGETS" {
		return c.srv.chathistoryTargets(c, m.Params[1:])
	}
	req, err := parseHistoryRequest(sub, m.Params[1:])
	if err != nil {
		return err
	}
	name, ok := c.historyName(req.target)
	if !ok {
		return failError{"INVALID_TARGET", []string{sub, req.target, "Messages could not be retrieved"}}
	}
	entries, err := c.srv.history.query(name, req)
	if err != nil {
		c.log.Warn("chathistory query failed", "err", err)
		return failError{"MESSAGE_ERROR", []string{sub, req.target, "Messages could not be retrieved"}}
	}
	c.srv.sendHistory(c, req.target, entries)
	return nil
}

// refCount is how many message references each subcommand takes.
var refCount = map[string]int{"LATEST": 1, "BEFORE": 1, "AFTER": 1, "AROUND": 1, "BETWEEN": 2}

// parseHistoryRequest checks the parameters after the subcommand:
// target, one or two references, limit.
func parseHistoryRequest(sub string, params []string) (*historyRequest, error) {
	n, ok := refCount[sub]
	if !ok {
		return nil, failError{"INVALID_PARAMS", []string{sub, "Unknown subcommand"}}
	}
	if len(params) != n+2 {
		return nil, failError{"INVALID_PARAMS", []string{sub, "Wrong number of parameters"}}
	}
	req := &historyRequest{sub: sub, target: params[0]}
	for _, p := range params[1 : n+1] {
		ref, err := parseMsgRef(sub, p, sub == "LATEST")
		if err != nil {
			return nil, err
		}
		req.refs = append(req.refs, ref)
	}
	limit, err := parseLimit(sub, params[n+1])
	req.limit = limit
	return req, err
}

// parseMsgRef parses "msgid=...", "timestamp=..." or, where allowed, "*"
// (returned as nil).
func parseMsgRef(sub, p string, starOK bool) (*store.Ref, error) {
	if p == "*" && starOK {
		return nil, nil
	}
	kind, val, found := strings.Cut(p, "=")
	switch {
	case !found:
		return nil, failError{"INVALID_PARAMS", []string{sub, p, "Invalid message reference"}}
	case kind == "msgid":
		t, ok := msgidTime(val)
		if !ok {
			return nil, failError{"INVALID_PARAMS", []string{sub, p, "Unknown msgid"}}
		}
		return &store.Ref{Time: t, ID: val}, nil
	case kind == "timestamp":
		t, err := parseTimestamp(val)
		if err != nil {
			return nil, failError{"INVALID_PARAMS", []string{sub, p, "Invalid timestamp"}}
		}
		return &store.Ref{Time: t}, nil
	}
	return nil, failError{"INVALID_MSGREFTYPE", []string{sub, p, "Unsupported message reference type"}}
}

// parseTimestamp accepts the server-time format and, leniently, any RFC
// 3339 time, rounded down to the store's millisecond precision.
func parseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(timestampLayout, s)
	if err != nil {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil || t.Before(time.Unix(0, 0)) {
		return time.Time{}, errors.New("invalid timestamp")
	}
	return storedTime(t), nil
}

// parseLimit reads a positive limit and caps it at chathistoryMax.
func parseLimit(sub, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, failError{"INVALID_PARAMS", []string{sub, s, "Invalid limit"}}
	}
	return min(n, chathistoryMax), nil
}

// historyName returns the history name of target if c may read it: a
// channel c is in now, or c's own conversation with a nick.
func (c *Client) historyName(target string) (string, bool) {
	if strings.HasPrefix(target, "#") {
		ch := c.srv.lookupChannel(target)
		if ch == nil {
			return "", false
		}
		if _, member := ch.privs(c); !member {
			return "", false
		}
		return ch.folded, true
	}
	if !validNick(target) {
		return "", false
	}
	return dmName(c.foldedNick(), casefold(target)), true
}

// query runs req against name's history after letting queued writes land,
// so a client sees its own just-sent messages.
func (h *history) query(name string, req *historyRequest) ([]*entry, error) {
	h.flushBriefly()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if req.sub == "AROUND" {
		return h.around(ctx, name, *req.refs[0], req.limit)
	}
	return h.read(ctx, name, historyQuery(req))
}

// flushBriefly waits up to flushWait for the write-behind queue to drain;
// a timeout only means the newest records may be missing from the answer.
func (h *history) flushBriefly() {
	ctx, cancel := context.WithTimeout(context.Background(), flushWait)
	defer cancel()
	_ = h.queue.Flush(ctx)
}

// historyQuery maps every subcommand but AROUND onto one store query.
func historyQuery(req *historyRequest) store.Query {
	q := store.Query{Limit: req.limit}
	switch req.sub {
	case "LATEST":
		q.After, q.FromNewest = req.refs[0], true
	case "BEFORE":
		q.Before, q.FromNewest = req.refs[0], true
	case "AFTER":
		q.After = req.refs[0]
	case "BETWEEN":
		a, b := req.refs[0], req.refs[1]
		if a.Time.After(b.Time) {
			// Counting from the first reference means from the newer
			// end; the result is still returned oldest first.
			q.After, q.Before, q.FromNewest = b, a, true
		} else {
			q.After, q.Before = a, b
		}
	}
	return q
}

// around returns up to limit entries centred on ref: half before it and
// half from it on, so a msgid reference includes the referenced message;
// near either end of the history the other side fills the window. Both
// sides are read in full so that the split can be made afterwards.
func (h *history) around(ctx context.Context, name string, ref store.Ref, limit int) ([]*entry, error) {
	before, err := h.read(ctx, name, store.Query{Before: &ref, Limit: limit, FromNewest: true})
	if err != nil {
		return nil, err
	}
	q := store.Query{Limit: limit}
	if len(before) > 0 {
		// Just after the last record before ref, which is ref itself for
		// a msgid reference.
		last := before[len(before)-1]
		q.After = &store.Ref{Time: last.at, ID: last.msgid}
	}
	after, err := h.read(ctx, name, q)
	if err != nil {
		return nil, err
	}
	nBefore := min(len(before), max(limit/2, limit-len(after)))
	after = after[:min(len(after), limit-nBefore)]
	return appendNew(lastN(before, nBefore), after), nil
}

// appendNew appends the entries of more whose msgids es lacks; the write
// queue is at-least-once, so two reads can meet the same record.
func appendNew(es, more []*entry) []*entry {
	out := slices.Clone(es)
	for _, e := range more {
		if !slices.ContainsFunc(es, func(x *entry) bool { return x.msgid == e.msgid }) {
			out = append(out, e)
		}
	}
	return out
}

// activity is one readable target and the time of its newest record.
type activity struct {
	name   string
	latest time.Time
}

// chathistoryTargets answers CHATHISTORY TARGETS <timestamp> <timestamp>
// <limit>: the channels and conversations c may read whose newest message
// lies strictly between the two times, oldest first, in a
// draft/chathistory-targets batch.
func (s *Server) chathistoryTargets(c *Client, params []string) error {
	const sub = "TARGETS"
	if len(params) != 3 {
		return failError{"INVALID_PARAMS", []string{sub, "Wrong number of parameters"}}
	}
	var bounds [2]time.Time
	for i, p := range params[:2] {
		ref, err := parseMsgRef(sub, p, false)
		if err != nil {
			return err
		}
		if ref.ID != "" {
			return failError{"INVALID_PARAMS", []string{sub, p, "TARGETS takes timestamps"}}
		}
		bounds[i] = ref.Time
	}
	limit, err := parseLimit(sub, params[2])
	if err != nil {
		return err
	}
	found, err := s.readableTargets(c, bounds)
	if err != nil {
		c.log.Warn("chathistory targets failed", "err", err)
		return failError{"MESSAGE_ERROR", []string{sub, "*", "Targets could not be retrieved"}}
	}
	s.sendTargets(c, pickTargets(found, limit, bounds[0].After(bounds[1])))
	return nil
}

// pickTargets sorts found oldest first and keeps limit of them, counted
// from the newer end when the request's first time was the later one.
func pickTargets(found []activity, limit int, fromNewest bool) []activity {
	slices.SortStableFunc(found, func(a, b activity) int { return a.latest.Compare(b.latest) })
	if len(found) <= limit {
		return found
	}
	if fromNewest {
		return found[len(found)-limit:]
	}
	return found[:limit]
}

func (s *Server) sendTargets(c *Client, found []activity) {
	ref := s.startBatch(c, "draft/chathistory-targets")
	for _, a := range found {
		m := &irc.Message{Prefix: &irc.Prefix{Name: s.name()}, Command: "CHATHISTORY",
			Params: []string{"TARGETS", a.name, serverTime(a.latest)}}
		if ref != "" {
			m.Tags = irc.Tags{"batch": ref}
		}
		c.send(m)
	}
	s.endBatch(c, ref)
}

// readableTargets lists the targets c may read with activity strictly
// between the two bounds (in either order). Store keys are opaque, so
// they are matched against the keys of c's channels and of conversations
// with connected nicks; any other key is opened to see whether it is a
// conversation c took part in.
func (s *Server) readableTargets(c *Client, bounds [2]time.Time) ([]activity, error) {
	lo, hi := bounds[0], bounds[1]
	if lo.After(hi) {
		lo, hi = hi, lo
	}
	s.history.flushBriefly()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	acts, err := s.history.store.Targets(ctx, lo, hi, targetsScan)
	if err != nil {
		return nil, err
	}
	known, others := s.targetKeys(c)
	me := c.foldedNick()
	var out []activity
	for _, a := range acts {
		name, ok := known[a.Key]
		if !ok && !others[a.Key] {
			name, ok = s.history.dmPartner(ctx, a.Key, me)
		}
		if ok {
			out = append(out, activity{name: name, latest: a.Latest})
		}
	}
	return out, nil
}

// targetKeys maps the store keys c may read without a store lookup to
// their names (c's channels, its conversations with connected nicks), and
// lists the keys of other live channels, which c may not read.
func (s *Server) targetKeys(c *Client) (known map[string]string, others map[string]bool) {
	v, me := s.vault, c.foldedNick()
	known, others = make(map[string]string), make(map[string]bool)
	for _, ch := range s.channelSnapshot() {
		others[v.TargetKey(ch.folded)] = true
	}
	for _, ch := range c.channelList() {
		key := v.TargetKey(ch.folded)
		known[key] = ch.name
		delete(others, key)
	}
	s.mu.RLock()
	nicks := make([]*Client, 0, len(s.clients))
	for _, o := range s.clients {
		nicks = append(nicks, o)
	}
	s.mu.RUnlock()
	for _, o := range nicks {
		known[v.TargetKey(dmName(me, o.foldedNick()))] = o.Nick()
	}
	return known, others
}

// dmPartner opens the newest record under key and, if it is a private
// message c (folded nick me) sent or received and key really is that
// conversation's key, returns the other party's nick.
func (h *history) dmPartner(ctx context.Context, key, me string) (string, bool) {
	es, err := h.readKey(ctx, key, store.Query{Limit: 1, FromNewest: true})
	if err != nil || len(es) == 0 || es[0].msg.Prefix == nil {
		return "", false
	}
	from, to := es[0].msg.Prefix.Name, es[0].msg.Param(0)
	partner := from
	if casefold(from) == me {
		partner = to
	}
	if !validNick(partner) || h.srv.vault.TargetKey(dmName(me, casefold(partner))) != key {
		return "", false
	}
	return partner, true
}
