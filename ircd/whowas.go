package ircd

import (
	"strconv"
	"sync"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

// whowasEntry is one former identity, as WHOWAS reports it.
type whowasEntry struct {
	nick, folded, user, host, realname string
	at                                 time.Time
}

// whowasRing remembers the last n nicks that were given up, by a nick
// change or a quit. It is safe for concurrent use; mu is a leaf lock, taken
// with no other lock held.
type whowasRing struct {
	mu      sync.Mutex
	entries []whowasEntry // circular once full
	next    int           // slot the next entry goes in
}

func newWhowasRing(n int) *whowasRing {
	return &whowasRing{entries: make([]whowasEntry, 0, max(n, 1))}
}

// add records that p's nick was given up by c. It reads c's realname
// before taking the ring's lock, so it never nests locks.
func (w *whowasRing) add(p *irc.Prefix, c *Client) {
	if p == nil || p.Name == "" {
		return
	}
	c.mu.Lock()
	realname := c.realname
	c.mu.Unlock()
	e := whowasEntry{nick: p.Name, folded: wire.Casefold(p.Name), user: p.User, host: p.Host, realname: realname, at: time.Now()}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.entries) < cap(w.entries) {
		w.entries = append(w.entries, e)
		return
	}
	w.entries[w.next] = e
	w.next = (w.next + 1) % len(w.entries)
}

// lookup returns up to limit entries for nick, newest first; limit <= 0
// means all of them.
func (w *whowasRing) lookup(nick string, limit int) []whowasEntry {
	folded := wire.Casefold(nick)
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []whowasEntry
	n := len(w.entries)
	for i := 1; i <= n; i++ {
		e := w.entries[(w.next-i+n)%n]
		if e.folded != folded {
			continue
		}
		out = append(out, e)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

// handleWhowas answers WHOWAS <nick>[,<nick>] [<count>] with 314 and 312
// per remembered identity, 406 for a nick never seen, then 369.
func handleWhowas(c *Client, m *irc.Message) error {
	limit, _ := strconv.Atoi(m.Param(1))
	s := c.srv
	for _, nick := range splitList(m.Params[0]) {
		found := s.whowas.lookup(nick, limit)
		if len(found) == 0 {
			c.numeric(irc.ERR_WASNOSUCHNICK, paramSafe(nick), "There was no such nickname")
		}
		for _, e := range found {
			c.numeric(irc.RPL_WHOWASUSER, e.nick, e.user, e.host, "*", e.realname)
			c.numeric(irc.RPL_WHOISSERVER, e.nick, s.name(), e.at.UTC().Format(time.RFC1123))
		}
		c.numeric(irc.RPL_ENDOFWHOWAS, paramSafe(nick), "End of WHOWAS")
	}
	return nil
}
