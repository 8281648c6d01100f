package ircd

import (
	"context"
	"errors"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/history"
	"securechat/ircd/wire"
)

// handleRename renames a channel (IRCv3 draft/channel-rename). Members
// with the capability see RENAME; the others see themselves PART the old
// name and JOIN the new one, with its topic and names. The channel's
// settings, members and replay ring move with it, and its sealed history
// moves to the new name's store key (see history.Rename).
func handleRename(c *Client, m *irc.Message) error {
	oldName, newName := m.Params[0], m.Params[1]
	ch := c.srv.lookupChannel(oldName)
	if ch == nil {
		return ircError{irc.ERR_NOSUCHCHANNEL, []string{oldName, "No such channel"}}
	}
	privs, member := ch.privs(c)
	if !member && !c.isOper() {
		return ircError{irc.ERR_NOTONCHANNEL, []string{ch.name, "You're not on that channel"}}
	}
	if privs&privOp == 0 && !c.isOper() {
		return ircError{irc.ERR_CHANOPRIVSNEEDED, []string{ch.name, "You're not channel operator"}}
	}
	if !validChannel(newName) {
		return failError{"CANNOT_RENAME", []string{ch.name, newName, "Invalid channel name"}}
	}
	newFolded := wire.Casefold(newName)
	if newFolded != ch.folded {
		// A name nobody is in may still have history from before a
		// restart; merging two histories would interleave them.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		used, err := c.srv.history.HasHistory(ctx, c.srv.history.Key(newFolded))
		cancel()
		if err != nil {
			return failError{"CANNOT_RENAME", []string{ch.name, newName, "History is unavailable, try again later"}}
		}
		if used {
			return failError{"CHANNEL_NAME_IN_USE", []string{ch.name, newName, "That name has history of its own"}}
		}
	}
	return c.srv.rename(c, ch, newName, truncate(m.Param(2), topicLen))
}

// errRenameInUse and errRenameGone are renameLocked's refusals.
var (
	errRenameInUse = errors.New("channel name in use")
	errRenameGone  = errors.New("channel gone")
)

// rename replaces ch by a channel named newName with everything ch had,
// under Server.mu, ch.mu and then the new channel's lock, so no member
// can be in one and not the other, and tells the members.
func (s *Server) rename(c *Client, ch *Channel, newName, reason string) error {
	c.streamLabeled() // c's RENAME goes out in the channel's order
	nc, err := s.renameAndAnnounce(c, ch, newName, reason, true)
	if err == nil {
		s.link.renamed(c, ch, nc, reason)
	}
	return err
}

// renameAndAnnounce renames ch and tells its members; moveHistory is
// false when another node of a cluster renamed it and moved its history.
func (s *Server) renameAndAnnounce(c *Client, ch *Channel, newName, reason string, moveHistory bool) (*Channel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	nc, err := s.renameLocked(ch, newName, moveHistory)
	switch {
	case errors.Is(err, errRenameInUse):
		return nil, failError{"CHANNEL_NAME_IN_USE", []string{ch.name, newName, "Channel already exists"}}
	case errors.Is(err, errRenameGone):
		return nil, ircError{irc.ERR_NOSUCHCHANNEL, []string{ch.name, "No such channel"}}
	case errors.Is(err, history.ErrMoving):
		return nil, failError{"CANNOT_RENAME", []string{ch.name, newName, "This channel has been renamed recently, try again later"}}
	case err != nil:
		return nil, err
	}
	defer nc.mu.Unlock()
	s.renameMarkers(ch.folded, nc.folded)
	s.announceRename(c, ch.name, nc, reason)
	return nc, nil
}

// renameLocked moves ch's state to a new channel named newName and
// returns it locked, and with moveHistory its history and stored state.
// s.mu and ch.mu are held.
func (s *Server) renameLocked(ch *Channel, newName string, moveHistory bool) (*Channel, error) {
	newFolded := wire.Casefold(newName)
	if other := s.channels[newFolded]; other != nil && other != ch {
		return nil, errRenameInUse
	}
	if ch.dead {
		return nil, errRenameGone
	}
	oldKey, newKey := s.channelKey(ch), s.history.Key(newFolded)
	if newKey != oldKey && moveHistory {
		if err := s.history.Rename(oldKey, newKey, ch.folded, newFolded, newName); err != nil {
			return nil, err
		}
	}
	nc := newChannel(newName)
	nc.mu.Lock()
	nc.created, nc.members, nc.snapshot = ch.created, ch.members, ch.snapshot
	nc.topic, nc.modes, nc.bans, nc.excepts, nc.invex, nc.invites = ch.topic, ch.modes, ch.bans, ch.excepts, ch.invex, ch.invites
	nc.meta, nc.reg = ch.meta, ch.reg
	nc.ring = ch.ring
	nc.ring.Retarget(ch.folded, newName)
	nc.storeKey.Store(&newKey)
	ch.dead, ch.members, ch.snapshot, ch.ring = true, map[*Client]uint8{}, nil, history.Ring{}
	delete(s.channels, ch.folded)
	s.channels[newFolded] = nc
	for m := range nc.members {
		m.mu.Lock()
		delete(m.channels, ch)
		m.channels[nc] = struct{}{}
		m.mu.Unlock()
	}
	if !moveHistory {
		return nc, nil
	}
	if newKey != oldKey {
		s.history.SaveChannel(oldKey, nil)
	}
	s.history.SaveChannel(newKey, nc.stateLocked())
	return nc, nil
}

// announceRename tells nc's members that c renamed oldName to nc: RENAME
// to those with the capability; to the others, unless only the case
// changed, a PART of the old name and the burst of a JOIN of the new.
// nc.mu is held.
func (s *Server) announceRename(c *Client, oldName string, nc *Channel, reason string) {
	caseOnly := wire.Casefold(oldName) == nc.folded
	now := time.Now()
	o := &outMsg{base: &irc.Message{Prefix: c.prefix(), Command: "RENAME", Params: []string{oldName, nc.name, reason}}, at: now, account: c.account()}
	pending := &c.pending
	if c.remote != nil {
		pending = nil // a remote rename arrives on the cluster's goroutine
	}
	for _, r := range nc.snapshot {
		emit := func(f *outMsg) { s.deliverTo(pending, []*Client{r}, f, nil) }
		if r == c {
			emit = c.sendOwn // with the command's label
		}
		switch {
		case r.caps.has(capChannelRename):
			emit(o)
		case !caseOnly:
			for _, f := range s.renameFallback(r, oldName, nc, reason, now) {
				emit(f)
			}
		}
	}
}

// renameFallback is what r, without draft/channel-rename, is sent for a
// rename: its own PART of the old name, then what a JOIN of the new name
// would send (JOIN, topic, names). nc.mu is held.
func (s *Server) renameFallback(r *Client, oldName string, nc *Channel, reason string, at time.Time) []*outMsg {
	p := r.prefix()
	part := []string{oldName}
	if reason != "" {
		part = append(part, reason)
	}
	out := []*outMsg{
		{base: &irc.Message{Prefix: p, Command: "PART", Params: part}, at: at},
		{
			base:     &irc.Message{Prefix: p, Command: "JOIN", Params: []string{nc.name}},
			extended: &irc.Message{Prefix: p, Command: "JOIN", Params: []string{nc.name, p.Name, r.realName()}},
			at:       at,
		},
	}
	server := &irc.Prefix{Name: s.name()}
	numeric := func(code string, params ...string) {
		out = append(out, &outMsg{base: &irc.Message{Prefix: server, Command: code, Params: append([]string{p.Name}, params...)}})
	}
	if t := nc.topic; t.text != "" {
		numeric(irc.RPL_TOPIC, nc.name, t.text)
		numeric(rplTopicWhoTime, nc.name, t.setter, itoa(int(t.at.Unix())))
	}
	symbol := "="
	if nc.modes.secret {
		symbol = "@"
	}
	names := nc.namesListLocked(r.caps.has(capMultiPrefix), r.caps.has(capUserhostInNames))
	for _, line := range packWords(names, 400) {
		numeric(irc.RPL_NAMREPLY, symbol, nc.name, line)
	}
	numeric(irc.RPL_ENDOFNAMES, nc.name, "End of /NAMES list")
	return out
}
