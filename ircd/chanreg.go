package ircd

import (
	"maps"
	"slices"
	"time"

	"securechat/ircd/history"
	"securechat/ircd/wire"
)

// chanRegistration is a registered channel's founder account (as
// registered) and when it was registered; the zero value is an
// unregistered channel. Channel.mu guards it.
type chanRegistration struct {
	founder string
	at      time.Time
}

// registeredLocked reports whether ch is registered; ch.mu is held.
func (ch *Channel) registeredLocked() bool { return ch.reg.founder != "" }

// isFounderLocked reports whether c is logged in to ch's founder
// account; ch.mu is held (c.account takes no lock).
func (ch *Channel) isFounderLocked(c *Client) bool {
	a := c.account()
	return a != "" && ch.registeredLocked() && wire.Casefold(a) == wire.Casefold(ch.reg.founder)
}

// joinPrivsLocked is what c gets on joining: operator status if it is
// the founder of a registered channel, or the first in an unregistered
// one; nothing otherwise. ch.mu is held.
func (ch *Channel) joinPrivsLocked(c *Client) uint8 {
	if ch.registeredLocked() {
		if ch.isFounderLocked(c) {
			return privOp
		}
		return 0
	}
	if len(ch.members) == 0 {
		return privOp
	}
	return 0
}

// saveRegisteredLocked persists a registered channel's state after a
// change of its access settings; ch.mu is held, so states are given in
// the order members saw the changes. Unregistered channels keep none.
func (s *Server) saveRegisteredLocked(ch *Channel) {
	if ch.registeredLocked() {
		s.history.SaveChannel(s.channelKey(ch), ch.stateLocked())
	}
}

// addAccessLocked adds a registered channel's founder and access
// settings to st; ch.mu is held.
func (ch *Channel) addAccessLocked(st *history.ChannelState) {
	st.Founder, st.RegisteredAt = ch.reg.founder, ch.reg.at
	st.Modes, st.Key, st.Limit = ch.modes.flags(), ch.modes.key, ch.modes.limit
	st.Bans, st.Excepts, st.InviteExcepts = bansOf(ch.bans), bansOf(ch.excepts), bansOf(ch.invex)
	st.Invites = slices.Sorted(maps.Keys(ch.invites))
}

// restoreAccessLocked is the inverse of addAccessLocked; ch.mu is held.
func (ch *Channel) restoreAccessLocked(st history.ChannelState) {
	ch.reg = chanRegistration{founder: st.Founder, at: st.RegisteredAt}
	ch.modes = chanModes{key: st.Key, limit: max(st.Limit, 0)}
	for _, f := range []byte(st.Modes) {
		if p := ch.modes.flag(f); p != nil {
			*p = true
		}
	}
	ch.bans, ch.excepts, ch.invex = entriesOf(st.Bans), entriesOf(st.Excepts), entriesOf(st.InviteExcepts)
	for _, n := range st.Invites {
		ch.invites[wire.Casefold(n)] = struct{}{}
	}
}

func bansOf(list []listEntry) []history.Ban {
	out := make([]history.Ban, 0, len(list))
	for _, e := range list {
		out = append(out, history.Ban{Mask: e.mask, Setter: e.setter, At: e.at})
	}
	return out
}

func entriesOf(bans []history.Ban) []listEntry {
	var out []listEntry
	for _, b := range bans {
		if b.Mask != "" && len(out) < maxBans {
			out = append(out, listEntry{mask: b.Mask, setter: b.Setter, at: b.At})
		}
	}
	return out
}
