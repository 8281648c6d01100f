package ircd

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/history"
)

// chathistoryMax is the most messages one CHATHISTORY request returns
// (ISUPPORT CHATHISTORY=); larger limits are capped, not refused.
const chathistoryMax = 100

// storeTimeout bounds one synchronous history read made for a client.
const storeTimeout = 2 * time.Second

// flushWait bounds how long CHATHISTORY waits for the write-behind queue.
// Records reach the store asynchronously, so without the wait a client
// asking right after it spoke would not see its own message; the bound
// keeps a slow or absent store from stalling the client's reader.
const flushWait = 200 * time.Millisecond

// historyRequest is one parsed CHATHISTORY query for a single target.
type historyRequest struct {
	sub    string
	target string
	refs   []*history.Ref // nil entries stand for "*"
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
	key, ok := c.historyKey(req.target)
	if !ok {
		return failError{"INVALID_TARGET", []string{sub, req.target, "Messages could not be retrieved"}}
	}
	entries, err := c.srv.queryHistory(key, req)
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
func parseMsgRef(sub, p string, starOK bool) (*history.Ref, error) {
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
		return &history.Ref{Time: t, ID: val}, nil
	case kind == "timestamp":
		t, err := parseTimestamp(val)
		if err != nil {
			return nil, failError{"INVALID_PARAMS", []string{sub, p, "Invalid timestamp"}}
		}
		return &history.Ref{Time: t}, nil
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

// historyKey returns the store key of target if c may read it: a
// channel c is in now, or c's own conversation with a nick.
func (c *Client) historyKey(target string) (string, bool) {
	s := c.srv
	if strings.HasPrefix(target, "#") {
		ch := s.lookupChannel(target)
		if ch == nil {
			return "", false
		}
		if _, member := ch.privs(c); !member {
			return "", false
		}
		return s.channelKey(ch), true
	}
	if !validNick(target) {
		return "", false
	}
	return s.directKey(c, target), true
}

// queryHistory runs req against key's history after letting queued
// writes land, so a client sees its own just-sent messages.
func (s *Server) queryHistory(key string, req *historyRequest) ([]*history.Entry, error) {
	s.flushBriefly()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if req.sub == "AROUND" {
		return s.history.Around(ctx, key, *req.refs[0], req.limit)
	}
	return s.history.Read(ctx, key, historyQuery(req))
}

// flushBriefly waits up to flushWait for the write-behind queue to drain;
// a timeout only means the newest records may be missing from the answer.
func (s *Server) flushBriefly() {
	ctx, cancel := context.WithTimeout(context.Background(), flushWait)
	defer cancel()
	_ = s.history.Flush(ctx)
}

// historyQuery maps every subcommand but AROUND onto one store query.
func historyQuery(req *historyRequest) history.Query {
	q := history.Query{Limit: req.limit}
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
	found := s.readableTargets(c, bounds)
	s.sendTargets(c, pickTargets(found, limit, bounds[0].After(bounds[1])))
	return nil
}

// pickTargets sorts found oldest first and keeps limit of them, counted
// from the newer end when the request's first time was the later one.
func pickTargets(found []history.Activity, limit int, fromNewest bool) []history.Activity {
	slices.SortStableFunc(found, func(a, b history.Activity) int { return a.Latest.Compare(b.Latest) })
	if len(found) <= limit {
		return found
	}
	if fromNewest {
		return found[len(found)-limit:]
	}
	return found[:limit]
}

func (s *Server) sendTargets(c *Client, found []history.Activity) {
	ref := s.startBatch(c, "draft/chathistory-targets")
	for _, a := range found {
		m := &irc.Message{Prefix: &irc.Prefix{Name: s.name()}, Command: "CHATHISTORY",
			Params: []string{"TARGETS", a.Name, serverTime(a.Latest)}}
		if ref != "" {
			m.Tags = irc.Tags{"batch": ref}
		}
		c.send(m)
	}
	s.endBatch(c, ref)
}

// readableTargets lists the targets c may read with activity strictly
// between the two bounds (in either order): its channels, and its
// conversations under its current nick and its account.
func (s *Server) readableTargets(c *Client, bounds [2]time.Time) []history.Activity {
	lo, hi := bounds[0], bounds[1]
	if lo.After(hi) {
		lo, hi = hi, lo
	}
	// The index is updated as messages are appended, so unlike a history
	// read this need not wait for the write queue.
	owners := s.directOwners(c)
	for _, ch := range c.channelList() {
		owners = append(owners, ch.folded)
	}
	return s.history.Targets(owners, lo, hi)
}
