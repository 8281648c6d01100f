package ircd

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/irc.v4"

	"securechat/ircd/history"
)

// Numerics from modern.ircdocs.horse that gopkg.in/irc.v4 leaves commented out.
// irc.v4 names 346 and 347 RPL_INVITELIST after RFC 2812; modern.ircdocs
// calls them RPL_INVEXLIST and gives RPL_INVITELIST 336.
const (
	rplCreationTime     = "329"
	rplInviteList       = "336" // INVITE without parameters
	rplEndOfInviteList  = "337"
	rplInvexList        = "346"
	rplEndOfInvexList   = "347"
	errInvalidModeParam = "696"
)

// Channel mode parameter limits.
const (
	keyLen   = 32
	maxLimit = 1 << 20 // a +l beyond any real channel is a typo, not a limit
)

// defaultChanModes are a new channel's modes: +nt.
func defaultChanModes() chanModes { return chanModes{topicLock: true, noExternal: true} }

// flag returns the field behind a parameterless channel mode letter, or
// nil for any other letter.
func (m *chanModes) flag(f byte) *bool {
	switch f {
	case 'i':
		return &m.inviteOnly
	case 'm':
		return &m.moderated
	case 'n':
		return &m.noExternal
	case 's':
		return &m.secret
	case 't':
		return &m.topicLock
	}
	return nil
}

// flags renders the parameterless modes that are set, in channelFlagModes
// order.
func (m *chanModes) flags() string {
	var b strings.Builder
	for _, f := range []byte(channelFlagModes) {
		if *m.flag(f) {
			b.WriteByte(f)
		}
	}
	return b.String()
}

// modeBuilder accumulates applied changes into one MODE line, writing a
// '+' or '-' only when the direction changes: "+ov-k alice bob *".
type modeBuilder struct {
	flags strings.Builder
	args  []string
	dir   byte
}

func (b *modeBuilder) add(add bool, mode byte, arg string) {
	dir := byte('-')
	if add {
		dir = '+'
	}
	if dir != b.dir {
		b.flags.WriteByte(dir)
		b.dir = dir
	}
	b.flags.WriteByte(mode)
	if arg != "" {
		b.args = append(b.args, arg)
	}
}

func (b *modeBuilder) empty() bool { return b.flags.Len() == 0 }

func (b *modeBuilder) params() []string { return append([]string{b.flags.String()}, b.args...) }

// handleMode answers MODE for a channel or for the client itself.
func handleMode(c *Client, m *irc.Message) error {
	if strings.HasPrefix(m.Params[0], "#") {
		return channelMode(c, m)
	}
	return userMode(c, m)
}

// userMode shows or changes the client's own modes. +o is ignored because
// only OPER grants it; -o drops operator status.
func userMode(c *Client, m *irc.Message) error {
	target := c.srv.lookupClient(m.Params[0])
	if target == nil {
		return ircError{irc.ERR_NOSUCHNICK, []string{paramSafe(m.Params[0]), "No such nick/channel"}}
	}
	if target != c {
		return ircError{irc.ERR_USERSDONTMATCH, []string{"Can't change mode for other users"}}
	}
	if len(m.Params) < 2 {
		c.numeric(irc.RPL_UMODEIS, c.userModes())
		return nil
	}
	b, unknown := c.applyUserModes(m.Params[1])
	if unknown {
		c.numeric(irc.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
	}
	if !b.empty() {
		c.send(&irc.Message{Prefix: c.prefix(), Command: "MODE", Params: append([]string{c.Nick()}, b.params()...)})
		c.srv.link.userChanged(c)
	}
	return nil
}

// userModes renders the client's user modes for RPL_UMODEIS.
func (c *Client) userModes() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := "+"
	for _, f := range []struct {
		on bool
		c  byte
	}{{c.bot, 'B'}, {c.invisible, 'i'}, {c.oper, 'o'}, {c.wallops, 'w'}} {
		if f.on {
			s += string(f.c)
		}
	}
	return s
}

// applyUserModes applies a user mode string and returns what changed and
// whether it held a letter the server does not know.
func (c *Client) applyUserModes(spec string) (b modeBuilder, unknown bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	add := true
	for i := 0; i < len(spec); i++ {
		var field *bool
		switch f := spec[i]; f {
		case '+', '-':
			add = f == '+'
			continue
		case 'i':
			field = &c.invisible
		case 'w':
			field = &c.wallops
		case 'B':
			field = &c.bot
		case 'o':
			if add {
				continue // only OPER grants +o
			}
			field = &c.oper
		default:
			unknown = true
			continue
		}
		if *field != add {
			c.changeModesLocked(func() { *field = add })
			b.add(add, spec[i], "")
		}
	}
	return b, unknown
}

// modeChange is one requested channel mode change. For o and v, target
// is the member it applies to and arg its current nick.
type modeChange struct {
	add    bool
	mode   byte
	arg    string
	target *Client
}

// parsedModes is a channel mode string split into changes, with the
// errors found on the way and the list modes whose entries were asked for.
type parsedModes struct {
	changes []modeChange
	lists   string // list mode letters, each at most once, in asked order
	errs    []ircError
}

// channelMode shows a channel's modes or mask lists, or changes its modes.
func channelMode(c *Client, m *irc.Message) error {
	s := c.srv
	ch := s.lookupChannel(m.Params[0])
	if ch == nil {
		return ircError{irc.ERR_NOSUCHCHANNEL, []string{paramSafe(m.Params[0]), "No such channel"}}
	}
	if len(m.Params) < 2 {
		return s.sendChannelModes(c, ch)
	}
	p := parseChannelModes(ch.name, m.Params[1], m.Params[2:])
	for _, e := range p.errs {
		c.numeric(e.numeric, e.params...)
	}
	for i := 0; i < len(p.lists); i++ {
		if err := s.sendList(c, ch, p.lists[i]); err != nil {
			return err
		}
	}
	if len(p.changes) == 0 {
		return nil
	}
	if privs, _ := ch.privs(c); privs&privOp == 0 && !c.isOper() {
		return ircError{irc.ERR_CHANOPRIVSNEEDED, []string{ch.name, "You're not channel operator"}}
	}
	s.changeModes(c, ch, s.resolveTargets(c, p.changes))
	return nil
}

// parseChannelModes splits spec and its arguments into changes, in order.
// At most maxModes changes that take a parameter are kept; the rest are
// dropped, as ISUPPORT MODES promises. It needs no lock.
func parseChannelModes(channel, spec string, args []string) parsedModes {
	var p parsedModes
	add, withParam := true, 0
	for i := 0; i < len(spec); i++ {
		f := spec[i]
		switch {
		case f == '+' || f == '-':
			add = f == '+'
		case strings.IndexByte(channelFlagModes, f) >= 0 || f == 'l' && !add:
			p.changes = append(p.changes, modeChange{add: add, mode: f})
		case strings.IndexByte(channelModesWithParam, f) >= 0:
			if len(args) == 0 {
				p.noArgument(add, f)
				continue
			}
			arg := args[0]
			args = args[1:]
			if withParam++; withParam > maxModes {
				continue
			}
			p.withArgument(channel, add, f, arg)
		default:
			p.errs = append(p.errs, ircError{irc.ERR_UNKNOWNMODE, []string{string(f), "is unknown mode char to me"}})
		}
	}
	return p
}

// noArgument handles a parameter mode given without one: b, e and I show
// their list, -k clears the key whatever it was, and the others are
// ignored.
func (p *parsedModes) noArgument(add bool, f byte) {
	switch {
	case strings.IndexByte(listModes, f) >= 0:
		if strings.IndexByte(p.lists, f) < 0 {
			p.lists += string(f)
		}
	case f == 'k' && !add:
		p.changes = append(p.changes, modeChange{add: false, mode: 'k'})
	}
}

// withArgument checks a mode's parameter and records the change, or a
// 696 ERR_INVALIDMODEPARAM for a bad key, limit or mask.
func (p *parsedModes) withArgument(channel string, add bool, f byte, arg string) {
	bad := func(why string) {
		p.errs = append(p.errs, ircError{errInvalidModeParam, []string{channel, string(f), paramSafe(arg), why}})
	}
	switch f {
	case 'k':
		if add && !validKey(arg) {
			// The client is shown which key was refused, made safe to
			// sit in the middle of a line.
			p.errs = append(p.errs, ircError{errInvalidModeParam, []string{channel, "k", echoParam(arg, 2*keyLen), "Invalid key"}})
			return
		}
	case 'l':
		if n, err := strconv.Atoi(arg); err != nil || n <= 0 || n > maxLimit {
			bad("Invalid limit")
			return
		}
	case 'b', 'e', 'I':
		if arg = normalizeMask(arg); arg == "" {
			bad("Invalid mask")
			return
		}
	}
	p.changes = append(p.changes, modeChange{add: add, mode: f, arg: arg})
}

// validKey accepts what can be sent back as one middle parameter of a
// JOIN: no spaces, commas or controls, no leading ':'.
func validKey(k string) bool {
	return k != "" && len(k) <= keyLen && k[0] != ':' && plainToken(k, ",")
}

// paramSafe echoes a client's parameter in a numeric's middle position,
// or "*" when it could not sit there.
func paramSafe(s string) string {
	if s == "" || s[0] == ':' || strings.ContainsAny(s, " \r\n") {
		return "*"
	}
	return s
}

// echoParam renders a parameter the server refused so it can be shown
// back in a middle position: at most max bytes, cut on a character
// boundary, with each space, control byte or leading ':' replaced by '_'
// (all a middle parameter cannot hold), and "*" for an empty one.
func echoParam(s string, max int) string {
	if len(s) > max {
		n := max
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	if s == "" {
		return "*"
	}
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c == 0x7f || i == 0 && c == ':' {
			b[i] = '_'
		}
	}
	return string(b)
}

// resolveTargets looks up the nicks of o and v changes before the channel
// is locked (Server.mu comes before Channel.mu) and drops unknown ones.
func (s *Server) resolveTargets(c *Client, changes []modeChange) []modeChange {
	out := changes[:0]
	for _, mc := range changes {
		if mc.mode == 'o' || mc.mode == 'v' {
			t := s.lookupClient(mc.arg)
			if t == nil {
				c.numeric(irc.ERR_NOSUCHNICK, paramSafe(mc.arg), "No such nick/channel")
				continue
			}
			mc.target, mc.arg = t, t.Nick()
		}
		out = append(out, mc)
	}
	return out
}

// changeModes applies changes and tells every member (and an operator
// overriding from outside) in one MODE line, both under ch.mu, so members
// see concurrent changes in the order they were made. Only a registered
// channel's modes are persisted, in the same critical section.
func (s *Server) changeModes(c *Client, ch *Channel, changes []modeChange) {
	setter, prefix := c.hostmask(), c.prefix()
	now := storedTime(time.Now())
	ch.mu.Lock()
	defer ch.mu.Unlock()
	b, errs := ch.applyModesLocked(changes, setter, now)
	for _, e := range errs {
		c.numeric(e.numeric, e.params...)
	}
	if !b.empty() {
		msg := &irc.Message{Prefix: prefix, Command: "MODE", Params: append([]string{ch.name}, b.params()...)}
		o := &outMsg{base: msg, at: time.Now(), account: c.account()}
		s.deliver(ch.snapshot, o, func(r *Client) bool { return r != c })
		c.sendOwn(o)
		if c.remote == nil {
			s.saveRegisteredLocked(ch)
			s.link.modes(c, ch, b.params())
		}
	}
}

// applyModesLocked applies changes and returns those that changed
// something and the errors to send; ch.mu is held. A channel without
// members keeps a new channel's settings (lapseLocked), so an operator
// outside it cannot make it unjoinable.
func (ch *Channel) applyModesLocked(changes []modeChange, setter string, now time.Time) (b modeBuilder, errs []ircError) {
	if ch.dead {
		return b, nil
	}
	if len(ch.members) == 0 {
		return b, []ircError{{irc.ERR_NOTONCHANNEL, []string{ch.name, "Channel is empty; its modes lapsed with its last member"}}}
	}
	for _, mc := range changes {
		arg, changed, err := ch.applyMode(mc, setter, now)
		if err != nil {
			errs = append(errs, *err)
		}
		if changed {
			b.add(mc.add, mc.mode, arg)
		}
	}
	return b, errs
}

// applyMode applies one change; ch.mu is held. It returns the argument to
// show in the MODE line and whether anything changed.
func (ch *Channel) applyMode(mc modeChange, setter string, now time.Time) (string, bool, *ircError) {
	switch mc.mode {
	case 'o', 'v':
		return ch.applyPriv(mc)
	case 'k':
		return ch.applyKey(mc)
	case 'l':
		return ch.applyLimit(mc)
	case 'b', 'e', 'I':
		return ch.applyListEntry(mc, setter, now)
	}
	field := ch.modes.flag(mc.mode)
	if field == nil || *field == mc.add {
		return "", false, nil
	}
	*field = mc.add
	return "", true, nil
}

func (ch *Channel) applyPriv(mc modeChange) (string, bool, *ircError) {
	privs, member := ch.members[mc.target]
	if !member {
		return "", false, &ircError{irc.ERR_USERNOTINCHANNEL, []string{mc.arg, ch.name, "They aren't on that channel"}}
	}
	bit := privVoice
	if mc.mode == 'o' {
		bit = privOp
	}
	next := privs &^ bit
	if mc.add {
		next = privs | bit
	}
	ch.members[mc.target] = next
	return mc.arg, next != privs, nil
}

func (ch *Channel) applyKey(mc modeChange) (string, bool, *ircError) {
	if !mc.add {
		changed := ch.modes.key != ""
		ch.modes.key = ""
		return "*", changed, nil
	}
	changed := ch.modes.key != mc.arg
	ch.modes.key = mc.arg
	return mc.arg, changed, nil
}

func (ch *Channel) applyLimit(mc modeChange) (string, bool, *ircError) {
	if !mc.add {
		changed := ch.modes.limit != 0
		ch.modes.limit = 0
		return "", changed, nil
	}
	n, _ := strconv.Atoi(mc.arg) // checked by withArgument
	changed := ch.modes.limit != n
	ch.modes.limit = n
	return mc.arg, changed, nil
}

// applyListEntry adds a mask to, or removes it from, the list behind
// mc.mode. The three lists share one limit, as ISUPPORT MAXLIST=beI says.
func (ch *Channel) applyListEntry(mc modeChange, setter string, now time.Time) (string, bool, *ircError) {
	list := ch.maskList(mc.mode)
	for i, e := range *list {
		if e.mask != mc.arg {
			continue
		}
		if mc.add {
			return "", false, nil
		}
		*list = append((*list)[:i:i], (*list)[i+1:]...)
		return mc.arg, true, nil
	}
	if !mc.add {
		return "", false, nil
	}
	if ch.listEntriesLocked() >= maxBans {
		return "", false, &ircError{irc.ERR_BANLISTFULL, []string{ch.name, string(mc.mode), "Channel list is full"}}
	}
	*list = append(*list, listEntry{mask: mc.arg, setter: setter, at: now})
	return mc.arg, true, nil
}

// sendChannelModes answers MODE #channel with 324 and 329; the key is
// shown to members and operators only.
func (s *Server) sendChannelModes(c *Client, ch *Channel) error {
	if !c.canSee(ch) {
		return ircError{irc.ERR_NOTONCHANNEL, []string{ch.name, "You're not on that channel"}}
	}
	_, member := ch.privs(c)
	c.numeric(irc.RPL_CHANNELMODEIS, append([]string{ch.name}, ch.modeString(member || c.isOper())...)...)
	c.numeric(rplCreationTime, ch.name, strconv.FormatInt(ch.created.Unix(), 10))
	return nil
}

// sendList answers MODE #channel b, e or I with one numeric per entry
// and the list's end. Bans are shown to anyone who may see the channel;
// exceptions only to its operators, as they name the hosts it trusts.
func (s *Server) sendList(c *Client, ch *Channel, mode byte) error {
	if !c.canSee(ch) {
		return ircError{irc.ERR_NOTONCHANNEL, []string{ch.name, "You're not on that channel"}}
	}
	privs, _ := ch.privs(c)
	if mode != 'b' && privs&privOp == 0 && !c.isOper() {
		return ircError{irc.ERR_CHANOPRIVSNEEDED, []string{ch.name, "You're not channel operator"}}
	}
	item, end, endText := listReplies(mode)
	ch.mu.Lock()
	entries := append([]listEntry(nil), *ch.maskList(mode)...)
	ch.mu.Unlock()
	for _, e := range entries {
		c.numeric(item, ch.name, e.mask, e.setter, strconv.FormatInt(e.at.Unix(), 10))
	}
	c.numeric(end, ch.name, endText)
	return nil
}

// listReplies returns the numerics that show a list mode's entries and
// end the list, and the end's text.
func listReplies(mode byte) (item, end, endText string) {
	switch mode {
	case 'e':
		return irc.RPL_EXCEPTLIST, irc.RPL_ENDOFEXCEPTLIST, "End of channel exception list"
	case 'I':
		return rplInvexList, rplEndOfInvexList, "End of channel invite exception list"
	}
	return irc.RPL_BANLIST, irc.RPL_ENDOFBANLIST, "End of channel ban list"
}

// maskList returns the list behind a list mode letter (see listModes);
// ch.mu is held to use it.
func (ch *Channel) maskList(mode byte) *[]listEntry {
	switch mode {
	case 'e':
		return &ch.excepts
	case 'I':
		return &ch.invex
	}
	return &ch.bans
}

// listEntriesLocked counts the entries of all list modes; ch.mu is held.
func (ch *Channel) listEntriesLocked() int {
	return len(ch.bans) + len(ch.excepts) + len(ch.invex)
}

// matchAny reports whether hostmask matches a mask of list.
func matchAny(list []listEntry, hostmask string) bool {
	for _, e := range list {
		if matchMask(e.mask, hostmask) {
			return true
		}
	}
	return false
}

// stateLocked returns ch's settings to persist, or nil when nothing
// needs keeping; ch.mu is held. An unregistered channel keeps only its
// topic and metadata: every channel is empty after a restart, and an
// empty channel's access settings lapse, so storing them would keep a
// key sealed for nothing. A registered channel keeps its founder and
// access settings too (addAccessLocked).
func (ch *Channel) stateLocked() *history.ChannelState {
	if ch.topic.text == "" && len(ch.meta) == 0 && !ch.registeredLocked() {
		return nil
	}
	st := &history.ChannelState{
		Name: ch.name, Created: ch.created,
		Topic: ch.topic.text, TopicSetter: ch.topic.setter, TopicAt: ch.topic.at,
		Metadata: ch.meta,
	}
	if ch.registeredLocked() {
		ch.addAccessLocked(st)
	}
	return st
}

// restore is the inverse of stateLocked, for a channel not yet published.
// It reports whether st held access settings that an unregistered
// channel loaded empty does not keep (older versions stored them).
func (ch *Channel) restore(st history.ChannelState) (dropped bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !st.Created.IsZero() {
		ch.created = st.Created
	}
	ch.topic = topicState{text: st.Topic, setter: st.TopicSetter, at: st.TopicAt}
	ch.meta = cleanMeta(st.Metadata)
	if st.Founder != "" {
		ch.restoreAccessLocked(st)
		return false
	}
	return st.Modes != "" || st.Key != "" || st.Limit != 0 || len(st.Bans) > 0
}
