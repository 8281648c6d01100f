package ircd

import (
	"strconv"
	"strings"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/history"
)

// Numerics from modern.ircdocs.horse that gopkg.in/irc.v4 leaves commented out.
const (
	rplCreationTime     = "329"
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
	}{{c.invisible, 'i'}, {c.oper, 'o'}, {c.wallops, 'w'}} {
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
// errors found on the way and whether the ban list was asked for.
type parsedModes struct {
	changes  []modeChange
	listBans bool
	errs     []ircError
}

// channelMode shows a channel's modes or ban list, or changes its modes.
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
	if p.listBans {
		if err := s.sendBanList(c, ch); err != nil {
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

// noArgument handles a parameter mode given without one: b lists the
// bans, -k clears the key whatever it was, and the others are ignored.
func (p *parsedModes) noArgument(add bool, f byte) {
	switch {
	case f == 'b':
		p.listBans = true
	case f == 'k' && !add:
		p.changes = append(p.changes, modeChange{add: false, mode: 'k'})
	}
}

// withArgument checks a mode's parameter and records the change, or a
// 696 ERR_INVALIDMODEPARAM for a bad key, limit or ban mask.
func (p *parsedModes) withArgument(channel string, add bool, f byte, arg string) {
	bad := func(why string) {
		p.errs = append(p.errs, ircError{errInvalidModeParam, []string{channel, string(f), paramSafe(arg), why}})
	}
	switch f {
	case 'k':
		if add && !validKey(arg) {
			bad("Invalid key")
			return
		}
	case 'l':
		if n, err := strconv.Atoi(arg); err != nil || n <= 0 || n > maxLimit {
			bad("Invalid limit")
			return
		}
	case 'b':
		if arg = normalizeMask(arg); arg == "" {
			bad("Invalid ban mask")
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

// changeModes applies changes, tells every member (and an operator
// overriding from outside) in one MODE line, and persists the settings.
// All three happen under ch.mu, so members see concurrent changes in the
// order they were made and the last state stored is the last one seen.
func (s *Server) changeModes(c *Client, ch *Channel, changes []modeChange) {
	setter, prefix, key := c.hostmask(), c.prefix(), s.channelKey(ch)
	now := storedTime(time.Now())
	ch.mu.Lock()
	b, persist, errs := ch.applyModesLocked(changes, setter, now)
	for _, e := range errs {
		c.numeric(e.numeric, e.params...)
	}
	if !b.empty() {
		msg := &irc.Message{Prefix: prefix, Command: "MODE", Params: append([]string{ch.name}, b.params()...)}
		o := &outMsg{base: msg, at: time.Now()}
		if persist {
			s.history.SaveChannel(key, ch.stateLocked())
		}
		s.deliver(ch.snapshot, o, func(r *Client) bool { return r != c })
		c.sendOwn(o)
	}
	ch.mu.Unlock()
	if persist {
		s.dropIfEmpty(ch)
	}
}

// applyModesLocked applies changes and returns those that changed
// something, whether a persisted setting changed, and the errors to
// send; ch.mu is held.
func (ch *Channel) applyModesLocked(changes []modeChange, setter string, now time.Time) (b modeBuilder, persist bool, errs []ircError) {
	if ch.dead {
		return b, false, nil
	}
	for _, mc := range changes {
		arg, changed, err := ch.applyMode(mc, setter, now)
		if err != nil {
			errs = append(errs, *err)
		}
		if changed {
			b.add(mc.add, mc.mode, arg)
			persist = persist || mc.mode != 'o' && mc.mode != 'v'
		}
	}
	return b, persist, errs
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
	case 'b':
		return ch.applyBan(mc, setter, now)
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

func (ch *Channel) applyBan(mc modeChange, setter string, now time.Time) (string, bool, *ircError) {
	for i, b := range ch.bans {
		if b.mask != mc.arg {
			continue
		}
		if mc.add {
			return "", false, nil
		}
		ch.bans = append(ch.bans[:i:i], ch.bans[i+1:]...)
		return mc.arg, true, nil
	}
	if !mc.add {
		return "", false, nil
	}
	if len(ch.bans) >= maxBans {
		return "", false, &ircError{irc.ERR_BANLISTFULL, []string{ch.name, "b", "Channel ban list is full"}}
	}
	ch.bans = append(ch.bans, listEntry{mask: mc.arg, setter: setter, at: now})
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

// sendBanList answers MODE #channel b with 367 per ban and 368, to anyone
// who may see the channel.
func (s *Server) sendBanList(c *Client, ch *Channel) error {
	if !c.canSee(ch) {
		return ircError{irc.ERR_NOTONCHANNEL, []string{ch.name, "You're not on that channel"}}
	}
	ch.mu.Lock()
	bans := append([]listEntry(nil), ch.bans...)
	ch.mu.Unlock()
	for _, b := range bans {
		c.numeric(irc.RPL_BANLIST, ch.name, b.mask, b.setter, strconv.FormatInt(b.at.Unix(), 10))
	}
	c.numeric(irc.RPL_ENDOFBANLIST, ch.name, "End of channel ban list")
	return nil
}

// stateLocked returns ch's settings to persist, or nil when they are
// all defaults and nothing needs keeping; ch.mu is held.
func (ch *Channel) stateLocked() *history.ChannelState {
	st := &history.ChannelState{
		Name: ch.name, Created: ch.created,
		Topic: ch.topic.text, TopicSetter: ch.topic.setter, TopicAt: ch.topic.at,
		Modes: ch.modes.flags(), Key: ch.modes.key, Limit: ch.modes.limit,
		Metadata: ch.meta,
	}
	for _, b := range ch.bans {
		st.Bans = append(st.Bans, history.Ban{Mask: b.mask, Setter: b.setter, At: b.at})
	}
	if st.Topic == "" && len(st.Bans) == 0 && ch.modes == defaultChanModes() && len(st.Metadata) == 0 {
		return nil
	}
	return st
}

// restore is the inverse of state, for a channel not yet published.
// Values a current server would refuse are dropped rather than trusted.
func (ch *Channel) restore(st history.ChannelState) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !st.Created.IsZero() {
		ch.created = st.Created
	}
	ch.topic = topicState{text: st.Topic, setter: st.TopicSetter, at: st.TopicAt}
	ch.meta = cleanMeta(st.Metadata)
	ch.modes = chanModes{}
	for i := 0; i < len(st.Modes); i++ {
		if f := ch.modes.flag(st.Modes[i]); f != nil {
			*f = true
		}
	}
	if validKey(st.Key) {
		ch.modes.key = st.Key
	}
	if st.Limit > 0 && st.Limit <= maxLimit {
		ch.modes.limit = st.Limit
	}
	ch.bans = nil
	for _, b := range st.Bans {
		if mask := normalizeMask(b.Mask); mask != "" && len(ch.bans) < maxBans {
			ch.bans = append(ch.bans, listEntry{mask: mask, setter: b.Setter, at: b.At})
		}
	}
}
