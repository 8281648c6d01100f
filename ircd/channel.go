package ircd

import (
	"context"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/history"
	"securechat/ircd/wire"
	"securechat/metrics"
)

// Member privileges, as bit flags.
const (
	privVoice uint8 = 1 << iota
	privOp
)

// Channel is one channel. mu guards every field below it; members is
// replaced, never mutated, so fan-out can range over a snapshot without
// holding the lock.
type Channel struct {
	name     string
	folded   string
	created  time.Time
	storeKey atomic.Pointer[string] // opaque history key, set on first use
	// loadMu serializes the first load of the channel's history tail, so
	// two joins of a cold channel read the store once; other channels'
	// loads do not wait for it.
	loadMu sync.Mutex

	mu       sync.Mutex
	members  map[*Client]uint8
	snapshot []*Client
	topic    topicState
	modes    chanModes
	bans     []listEntry
	excepts  []listEntry         // +e: masks a ban does not apply to
	invex    []listEntry         // +I: masks admitted past +i
	invites  map[string]struct{} // casefolded nicks invited past +i
	ring     history.Ring        // replay ring
	meta     map[string]string   // channel metadata (draft/metadata-2), never mutated: replaced
	reg      chanRegistration    // founder of a registered channel (chanreg.go)
	dead     bool                // removed from the server map
}

type topicState struct {
	text, setter string
	at           time.Time
}

type chanModes struct {
	moderated, topicLock, noExternal, inviteOnly, secret bool
	key                                                  string
	limit                                                int
}

type listEntry struct {
	mask, setter string
	at           time.Time
}

func newChannel(name string) *Channel {
	return &Channel{
		name:    name,
		folded:  wire.Casefold(name),
		created: time.Now(),
		members: make(map[*Client]uint8),
		modes:   defaultChanModes(),
		invites: make(map[string]struct{}),
	}
}

// Members returns the current member snapshot. It is safe to call from any
// goroutine; the slice must not be modified.
func (ch *Channel) Members() []*Client {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.snapshot
}

func (ch *Channel) rebuildSnapshot() {
	snap := make([]*Client, 0, len(ch.members))
	for m := range ch.members {
		snap = append(snap, m)
	}
	ch.snapshot = snap
}

func (ch *Channel) privs(c *Client) (uint8, bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	p, ok := ch.members[c]
	return p, ok
}

// isEmptyStateless reports whether nothing would be lost by dropping the
// channel: no members, no topic and no history cached. An empty channel's
// other settings have lapsed already (lapseLocked).
func (ch *Channel) isEmptyStateless() bool {
	return len(ch.members) == 0 && ch.topic.text == "" && ch.ring.Len() == 0 && len(ch.meta) == 0 && !ch.registeredLocked()
}

// lapseLocked returns the access settings of a channel its last member
// left to a new channel's: modes, key, limit, bans and invites. Only the
// topic and history outlive emptiness, so no channel can be left that
// nobody may enter. Registered channels are the exception: they keep
// their settings, since their founder may always enter and lift them.
// ch.mu is held.
func (ch *Channel) lapseLocked() {
	if ch.registeredLocked() {
		return
	}
	ch.modes = defaultChanModes()
	ch.bans, ch.excepts, ch.invex = nil, nil, nil
	clear(ch.invites)
}

// joinCheck returns the numeric refusing c entry, or "" to admit. IRC
// operators and a registered channel's founder pass every check, so a
// kept +i, +k, +l or ban never locks the founder out.
func (ch *Channel) joinCheck(c *Client, key string) string {
	if c.remote != nil || c.isOper() || ch.isFounderLocked(c) {
		return "" // a remote user's own node checked
	}
	_, invited := ch.invites[c.foldedNick()]
	switch {
	case ch.modes.key != "" && key != ch.modes.key:
		return irc.ERR_BADCHANNELKEY
	case ch.modes.limit > 0 && len(ch.members) >= ch.modes.limit && !invited:
		return irc.ERR_CHANNELISFULL
	case ch.modes.inviteOnly && !invited && !matchAny(ch.invex, c.hostmask()):
		return irc.ERR_INVITEONLYCHAN
	case ch.bannedLocked(c) && !invited:
		return irc.ERR_BANNEDFROMCHAN
	}
	return ""
}

// bannedLocked reports whether c matches a ban and no ban exception;
// ch.mu is held.
func (ch *Channel) bannedLocked(c *Client) bool {
	if len(ch.bans) == 0 {
		return false
	}
	mask := c.hostmask()
	return matchAny(ch.bans, mask) && !matchAny(ch.excepts, mask)
}

// add makes c a member, as operator if joinPrivsLocked says so, and runs burst in the
// same critical section, so what burst queues (the join, the names, the
// replay) comes before any later message of the channel: a joiner gets
// each message either replayed or live, never both and never neither.
// It returns the numeric refusing c, "-" if c is a member already or the
// channel is gone, or "".
func (ch *Channel) add(c *Client, key string, burst func()) (numeric string) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if _, already := ch.members[c]; already || ch.dead {
		return "-"
	}
	if n := ch.joinCheck(c, key); n != "" {
		return n
	}
	if len(ch.members) == 0 && !ch.registeredLocked() {
		// The first joiner creates the channel afresh: the access
		// settings lapsed when it emptied, and it is new from now on.
		ch.created = time.Now()
	}
	ch.members[c] = ch.joinPrivsLocked(c)
	delete(ch.invites, c.foldedNick())
	ch.rebuildSnapshot()
	if burst != nil {
		burst()
	}
	return ""
}

// remove drops c and reports whether it was a member. When c was the
// last member, the channel's access settings lapse in the same critical
// section, so the next joiner finds a channel anyone may enter.
func (ch *Channel) remove(c *Client) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if _, ok := ch.members[c]; !ok {
		return false
	}
	delete(ch.members, c)
	ch.rebuildSnapshot()
	if len(ch.members) == 0 {
		ch.lapseLocked()
	}
	return true
}

// namesList renders the NAMES entries as seen by a client with the given
// capabilities.
func (ch *Channel) namesList(multiPrefix, userhost bool) []string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.namesListLocked(multiPrefix, userhost)
}

// namesListLocked is namesList with ch.mu held; it takes the members'
// locks, which come after ch.mu in the lock order.
func (ch *Channel) namesListLocked(multiPrefix, userhost bool) []string {
	out := make([]string, 0, len(ch.members))
	for c, p := range ch.members {
		name := c.Nick()
		if userhost {
			name = c.hostmask()
		}
		out = append(out, prefixFor(p, multiPrefix)+name)
	}
	sort.Strings(out)
	return out
}

// prefixFor renders membership prefixes: the highest one, or all of them
// for multi-prefix clients.
func prefixFor(p uint8, multi bool) string {
	var b strings.Builder
	if p&privOp != 0 {
		b.WriteByte('@')
		if !multi {
			return b.String()
		}
	}
	if p&privVoice != 0 {
		b.WriteByte('+')
	}
	return b.String()
}

// modeString renders the channel modes for RPL_CHANNELMODEIS; the key is
// shown only to members.
func (ch *Channel) modeString(showKey bool) []string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	m := ch.modes
	flags := "+" + m.flags()
	var params []string
	if m.key != "" {
		flags += "k"
		key := "*"
		if showKey {
			key = m.key
		}
		params = append(params, key)
	}
	if m.limit > 0 {
		flags += "l"
		params = append(params, itoa(m.limit))
	}
	return append([]string{flags}, params...)
}

// loadChannels restores persisted channels at start-up.
func (s *Server) loadChannels() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	states, err := s.history.Channels(ctx)
	if err != nil {
		return err
	}
	for _, st := range states {
		if !validChannel(st.Name) {
			s.metrics.HistoryErrors.WithLabelValues(metrics.OpOpen).Inc()
			s.log.Warn("skipping channel state with an invalid name")
			continue
		}
		ch := newChannel(st.Name)
		if ch.restore(st) {
			s.rewriteState(ch) // drops settings an older version stored
		}
		s.channels[ch.folded] = ch
		s.metrics.Channels.Inc()
	}
	return nil
}

// rewriteState stores ch's state again, under ch.mu as setTopic does;
// loadChannels uses it to drop settings an older version persisted, such
// as a channel key, which would otherwise stay sealed in the store.
func (s *Server) rewriteState(ch *Channel) {
	key := s.channelKey(ch)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	s.history.SaveChannel(key, ch.stateLocked())
}
