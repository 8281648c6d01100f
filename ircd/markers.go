package ircd

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/history"
	"securechat/ircd/wire"
	"securechat/metrics"
)

// markerKind is the sealed blob kind of read markers: one blob per
// account, under history.BlobKey(markerKind, folded account), holding
// the account name and every target's marker, so target names and times
// exist only inside the sealed value.
const markerKind = "markers"

// maxMarkers bounds the targets one account keeps a marker for; past it
// the oldest marker goes, so MARKREAD cannot grow a blob without end.
const maxMarkers = 1000

// readMarkers holds every account's draft/read-marker markers: the time
// of the last message read, per target. mu guards byAccount; under it
// only leaf locks are taken (send queues, the history writer's), so
// every client of an account sees its marker changes in the order they
// were made. It is taken under Channel.mu: the JOIN burst reads a marker.
type readMarkers struct {
	mu        sync.Mutex
	byAccount map[string]*markerSet // by casefolded account
}

// markerSet is one account's markers.
type markerSet struct {
	account string
	read    map[string]int64 // casefolded target → Unix milliseconds
}

// markerBlob is one account's markers as sealed in its blob: a list, not
// a map, because encoding/json sorts a map's keys on every encode, which
// made that sort most of a MARKREAD's cost for an account with many
// markers (see BENCHMARKS.md).
type markerBlob struct {
	Account string     `json:"a"`
	Read    []markerAt `json:"r"`
}

type markerAt struct {
	Target string `json:"t"` // casefolded
	At     int64  `json:"m"` // Unix milliseconds
}

// save hands am's blob to history, which seals and stores it. The
// caller holds readMarkers.mu, so saves reach history in order.
func (am *markerSet) save(s *Server) {
	b := markerBlob{Account: am.account, Read: make([]markerAt, 0, len(am.read))}
	for t, ms := range am.read {
		b.Read = append(b.Read, markerAt{t, ms})
	}
	s.history.Save(markerKind, s.history.BlobKey(markerKind, wire.Casefold(am.account)), b)
}

// loadMarkers restores the read markers persisted in history. A blob
// that is not the account's own (wrong key) is skipped like one that
// does not open.
func (s *Server) loadMarkers() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	blobs, err := s.history.Load(ctx, markerKind)
	if err != nil {
		return err
	}
	s.markers.byAccount = make(map[string]*markerSet, len(blobs))
	for key, raw := range blobs {
		var b markerBlob
		if json.Unmarshal(raw, &b) != nil || b.Account == "" ||
			s.history.BlobKey(markerKind, wire.Casefold(b.Account)) != key {
			s.metrics.HistoryErrors.WithLabelValues(metrics.OpOpen).Inc()
			s.log.Warn("skipping read markers that do not belong under their key")
			continue
		}
		am := &markerSet{account: b.Account, read: make(map[string]int64, len(b.Read))}
		for _, m := range b.Read {
			am.read[m.Target] = m.At
		}
		s.markers.byAccount[wire.Casefold(b.Account)] = am
	}
	return nil
}

// handleMarkread is draft/read-marker's MARKREAD <target> [timestamp=…]:
// without a timestamp it asks for the account's marker on target, with
// one it moves the marker forward (never back) and tells every client
// of the account.
func handleMarkread(c *Client, m *irc.Message) error {
	if len(m.Params) == 0 {
		return failError{"NEED_MORE_PARAMS", []string{"Missing parameters"}}
	}
	target := m.Params[0]
	account := c.account()
	switch {
	case account == "":
		return failError{"ACCOUNT_REQUIRED", []string{target, "You must be logged in to an account to use read markers"}}
	case !validChannel(target) && !validNick(target):
		return failError{"INVALID_PARAMS", []string{target, "Invalid target"}}
	case len(m.Params) == 1:
		c.reply("MARKREAD", target, c.srv.markerParam(account, target))
		return nil
	}
	at, err := parseMarkTime(m.Params[1])
	if err != nil {
		return err
	}
	c.srv.markRead(c, account, target, at)
	return nil
}

// parseMarkTime parses a client's timestamp=… and clamps it to now: a
// marker in the future would hide messages not yet sent.
func parseMarkTime(p string) (time.Time, error) {
	val, ok := strings.CutPrefix(p, "timestamp=")
	if !ok {
		return time.Time{}, failError{"INVALID_PARAMS", []string{p, "The timestamp must be timestamp=YYYY-MM-DDThh:mm:ss.sssZ"}}
	}
	at, err := parseTimestamp(val)
	if err != nil {
		return time.Time{}, failError{"INVALID_PARAMS", []string{p, "Invalid timestamp"}}
	}
	if now := storedTime(time.Now()); at.After(now) {
		return now, nil
	}
	return at, nil
}

// markRead moves account's marker on target to at, if that is later,
// persists it and tells every client of the account that negotiated
// draft/read-marker; c, which asked, is answered either way, with the
// marker the server keeps.
func (s *Server) markRead(c *Client, account, target string, at time.Time) {
	clients := s.markerClients(account, c)
	s.markers.mu.Lock()
	defer s.markers.mu.Unlock()
	am, cur, moved := s.advanceMarkerLocked(account, target, at)
	if !moved {
		c.reply("MARKREAD", target, markerStamp(cur))
		return
	}
	am.save(s)
	s.link.markerMoved(c, account, target, at)
	m := &irc.Message{Prefix: &irc.Prefix{Name: s.name()}, Command: "MARKREAD", Params: []string{target, markerStamp(at.UnixMilli())}}
	c.send(m)
	line := wire.AppendLine(nil, nil, m)
	for _, r := range clients {
		r.push(&c.pending, line)
	}
}

// markerClients are account's clients, but skip, that asked for read
// markers.
func (s *Server) markerClients(account string, skip *Client) []*Client {
	var clients []*Client
	for _, r := range s.accountClients(account, skip) {
		if r.caps.has(capReadMarker) {
			clients = append(clients, r)
		}
	}
	return clients
}

// advanceMarkerLocked moves account's marker on target to at unless it
// is there or later already, and returns the set and the marker's time
// (in ms) before the move. s.markers.mu is held.
func (s *Server) advanceMarkerLocked(account, target string, at time.Time) (am *markerSet, cur int64, moved bool) {
	fa, ft := wire.Casefold(account), wire.Casefold(target)
	am = s.markers.byAccount[fa]
	if am == nil {
		am = &markerSet{account: account, read: make(map[string]int64)}
		s.markers.byAccount[fa] = am
	}
	if cur, ok := am.read[ft]; ok && at.UnixMilli() <= cur {
		return am, cur, false
	}
	am.read[ft] = at.UnixMilli()
	am.evictOldest()
	return am, 0, true
}

// remoteMarker applies a read marker moved on another node, which
// stored it, and tells this node's clients of the account.
func (s *Server) remoteMarker(account, target string, at time.Time) {
	if s.accounts == nil {
		return
	}
	clients := s.markerClients(account, nil)
	s.markers.mu.Lock()
	_, _, moved := s.advanceMarkerLocked(account, target, at)
	s.markers.mu.Unlock()
	if !moved {
		return
	}
	m := &irc.Message{Prefix: &irc.Prefix{Name: s.name()}, Command: "MARKREAD", Params: []string{target, markerStamp(at.UnixMilli())}}
	line := wire.AppendLine(nil, nil, m)
	for _, r := range clients {
		r.push(nil, line)
	}
}

// renameMarkers moves every account's marker on the casefolded channel
// name from to to, as RENAME moves the channel's history.
func (s *Server) renameMarkers(from, to string) {
	if from == to {
		return
	}
	s.markers.mu.Lock()
	defer s.markers.mu.Unlock()
	for _, am := range s.markers.byAccount {
		ms, ok := am.read[from]
		if !ok {
			continue
		}
		delete(am.read, from)
		am.read[to] = max(ms, am.read[to])
		am.save(s)
	}
}

// evictOldest drops the oldest markers past maxMarkers.
func (am *markerSet) evictOldest() {
	for len(am.read) > maxMarkers {
		oldest, first := "", true
		for t, ms := range am.read {
			if first || ms < am.read[oldest] {
				oldest, first = t, false
			}
		}
		delete(am.read, oldest)
	}
}

// marker returns account's marker on the casefolded target.
func (s *Server) marker(account, folded string) (time.Time, bool) {
	if account == "" {
		return time.Time{}, false
	}
	s.markers.mu.Lock()
	defer s.markers.mu.Unlock()
	am := s.markers.byAccount[wire.Casefold(account)]
	if am == nil {
		return time.Time{}, false
	}
	ms, ok := am.read[folded]
	return time.UnixMilli(ms), ok
}

// markerParam is the MARKREAD parameter telling account's marker on
// target: timestamp=… or "*" for none.
func (s *Server) markerParam(account, target string) string {
	at, ok := s.marker(account, wire.Casefold(target))
	if !ok {
		return "*"
	}
	return markerStamp(at.UnixMilli())
}

func markerStamp(ms int64) string { return "timestamp=" + serverTime(time.UnixMilli(ms)) }

// sendJoinMarker tells a draft/read-marker client its marker on the
// channel it joined, before the end of NAMES as the spec asks. ch.mu is
// held.
func (s *Server) sendJoinMarker(c *Client, ch *Channel) {
	if c.caps.has(capReadMarker) {
		c.reply("MARKREAD", ch.name, s.markerParam(c.account(), ch.name))
	}
}

// joinReplay is what a JOIN replays to c: nothing for a client that
// negotiated draft/chathistory (it asks for what it lacks); for an
// account with a marker on ch, only the ring's messages after it; else
// the ring's tail. The replay limit caps each. ch.mu is held.
func (s *Server) joinReplay(c *Client, ch *Channel) []*history.Entry {
	if c.caps.has(capChathistory) {
		return nil
	}
	entries := ch.ring.Snapshot()
	if at, ok := s.marker(c.account(), ch.folded); ok {
		entries = unreadSince(entries, at)
	}
	return history.LastN(entries, s.config().Replay)
}

// unreadSince returns the entries after at: the ring is in channel
// order, so they are a suffix of it.
func unreadSince(entries []*history.Entry, at time.Time) []*history.Entry {
	i := len(entries)
	for i > 0 && entries[i-1].At.After(at) {
		i--
	}
	return entries[i:]
}
