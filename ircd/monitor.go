package ircd

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

// monitorLimit is how many nicks one client may monitor (ISUPPORT MONITOR).
const monitorLimit = 100

// monitorIndex records who monitors which nick (IRCv3 MONITOR). mu guards
// both maps; the zero value is ready to use.
//
// Lock order: monitorIndex.mu → Server.mu → Client.mu → queue locks. A
// MONITOR + looks a target up and queues its status under mu; a client
// signing on, off or changing nick takes mu only after its change to the
// nick map is made and Server.mu released, and queues the notifications
// under mu. So a watcher's last word about a nick is always its current
// state: either the reply saw the change, or the notification follows the
// reply.
type monitorIndex struct {
	mu       sync.Mutex
	watchers map[string]map[*Client]struct{} // casefolded nick → who monitors it
	watching map[*Client]map[string]string   // watcher → casefolded nick → nick as given
}

// addLocked adds nick to w's list and reports whether it is on the list,
// false when the list is full. mu is held.
func (ix *monitorIndex) addLocked(w *Client, folded, nick string) bool {
	list := ix.watching[w]
	if _, ok := list[folded]; ok {
		return true
	}
	if len(list) >= monitorLimit {
		return false
	}
	if ix.watching == nil {
		ix.watching = make(map[*Client]map[string]string)
		ix.watchers = make(map[string]map[*Client]struct{})
	}
	if list == nil {
		list = make(map[string]string)
		ix.watching[w] = list
	}
	list[folded] = nick
	set := ix.watchers[folded]
	if set == nil {
		set = make(map[*Client]struct{})
		ix.watchers[folded] = set
	}
	set[w] = struct{}{}
	return true
}

// remove takes folded nicks off w's list; none means all of them.
func (ix *monitorIndex) remove(w *Client, folded ...string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if len(folded) == 0 {
		for f := range ix.watching[w] {
			folded = append(folded, f)
		}
	}
	for _, f := range folded {
		delete(ix.watching[w], f)
		delete(ix.watchers[f], w)
		if len(ix.watchers[f]) == 0 {
			delete(ix.watchers, f)
		}
	}
	if len(ix.watching[w]) == 0 {
		delete(ix.watching, w)
	}
}

// list returns the nicks w monitors, as it gave them, sorted.
func (ix *monitorIndex) list(w *Client) []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	out := make([]string, 0, len(ix.watching[w]))
	for _, nick := range ix.watching[w] {
		out = append(out, nick)
	}
	sort.Strings(out)
	return out
}

// watchersOf returns the clients monitoring the casefolded nick.
func (ix *monitorIndex) watchersOf(folded string) []*Client {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	out := make([]*Client, 0, len(ix.watchers[folded]))
	for w := range ix.watchers[folded] {
		out = append(out, w)
	}
	return out
}

// handleMonitor answers MONITOR + - C L S.
func handleMonitor(c *Client, m *irc.Message) error {
	s := c.srv
	sub := strings.ToUpper(m.Params[0])
	if (sub == "+" || sub == "-") && len(m.Params) < 2 {
		return ircError{irc.ERR_NEEDMOREPARAMS, []string{"MONITOR", "Not enough parameters"}}
	}
	switch sub {
	case "+":
		s.monitorAdd(c, splitList(m.Params[1]))
	case "-":
		var folded []string
		for _, nick := range splitList(m.Params[1]) {
			folded = append(folded, wire.Casefold(nick))
		}
		if len(folded) > 0 {
			s.monitors.remove(c, folded...)
		}
	case "C":
		s.monitors.remove(c)
	case "L":
		for _, line := range packList(s.monitors.list(c), ",", 400) {
			c.numeric(irc.RPL_MONLIST, line)
		}
		c.numeric(irc.RPL_ENDOFMONLIST, "End of MONITOR list")
	case "S":
		s.monitorStatus(c, s.monitors.list(c))
	default:
		return failError{"INVALID_PARAMS", []string{paramSafe(m.Params[0]), "Unknown MONITOR subcommand"}}
	}
	return nil
}

// monitorAdd adds nicks to c's list and tells c which are online. A nick
// that is not valid cannot come online, so it is not added (the spec
// forbids masks). Past the limit, 734 names the nicks not added.
func (s *Server) monitorAdd(c *Client, nicks []string) {
	ix := &s.monitors
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var added []string
	for i, nick := range nicks {
		if !validNick(nick) {
			continue
		}
		if !ix.addLocked(c, wire.Casefold(nick), nick) {
			c.numeric(irc.ERR_MONLISTFULL, strconv.Itoa(monitorLimit), strings.Join(nicks[i:], ","), "Monitor list is full.")
			break
		}
		added = append(added, nick)
	}
	s.monitorStatus(c, added)
}

// monitorStatus sends c 730 for the nicks that are online, with their
// hostmasks, and 731 for the others.
func (s *Server) monitorStatus(c *Client, nicks []string) {
	var online, offline []string
	for _, nick := range nicks {
		if t := s.lookupClient(nick); t != nil {
			online = append(online, t.hostmask())
		} else {
			offline = append(offline, nick)
		}
	}
	for _, line := range packList(online, ",", 400) {
		c.numeric(irc.RPL_MONONLINE, line)
	}
	for _, line := range packList(offline, ",", 400) {
		c.numeric(irc.RPL_MONOFFLINE, line)
	}
}

// monitorNickChange tells the watchers of a client's nicks that from
// went offline and to came online, as to's hostmask; an empty from or to
// means the client signed on or off. A change of case alone is no news.
// Any goroutine, holding no lock.
func (s *Server) monitorNickChange(from string, to *irc.Prefix) {
	ix := &s.monitors
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if from != "" && to != nil && wire.Casefold(from) == wire.Casefold(to.Name) {
		return
	}
	now := time.Now()
	if from != "" {
		s.monitorNotifyLocked(ix.watchers[wire.Casefold(from)], irc.RPL_MONOFFLINE, from, now)
	}
	if to != nil {
		s.monitorNotifyLocked(ix.watchers[wire.Casefold(to.Name)], irc.RPL_MONONLINE, to.String(), now)
	}
}

// monitorNotifyLocked queues numeric about target for each watcher. Each
// line names its watcher, so each is its own message. ix.mu is held.
func (s *Server) monitorNotifyLocked(watchers map[*Client]struct{}, numeric, target string, at time.Time) {
	server := &irc.Prefix{Name: s.name()}
	for w := range watchers {
		m := &irc.Message{Prefix: server, Command: numeric, Params: []string{w.nickOrStar(), target}}
		s.deliver([]*Client{w}, &outMsg{base: m, at: at}, nil)
	}
}

// notifyChange sends a change about c that clients see only with cp
// (AWAY, SETNAME): to c's neighbours, to c itself when self is set, and,
// under extended-monitor, to the clients monitoring c's nick.
func (s *Server) notifyChange(c *Client, m *irc.Message, cp capability, self bool) {
	recipients := c.neighbours()
	seen := make(map[*Client]bool, len(recipients))
	for _, r := range recipients {
		seen[r] = true
	}
	for _, w := range s.monitors.watchersOf(c.foldedNick()) {
		if !seen[w] && w != c && w.caps.has(capExtendedMonitor) {
			recipients = append(recipients, w)
		}
	}
	if self {
		recipients = append(recipients, c)
	}
	s.deliver(recipients, &outMsg{base: m, at: time.Now(), account: c.account()}, func(r *Client) bool { return r.caps.has(cp) })
	s.link.userChanged(c)
}
