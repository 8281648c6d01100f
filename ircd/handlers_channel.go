package ircd

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

func itoa(n int) string { return strconv.Itoa(n) }

func handleJoin(c *Client, m *irc.Message) error {
	if m.Params[0] == "0" {
		for _, ch := range c.channelList() {
			c.srv.part(c, ch, "")
		}
		return nil
	}
	keys := strings.Split(m.Param(1), ",")
	for i, name := range splitList(m.Params[0]) {
		key := ""
		if i < len(keys) {
			key = keys[i]
		}
		if err := c.srv.join(c, name, key); err != nil {
			c.srv.replyError(c, m, err)
		}
	}
	return nil
}

// replyError reports one failed item of a multi-target command and goes on
// with the rest.
func (s *Server) replyError(c *Client, m *irc.Message, err error) {
	s.run(c, command{handler: func(*Client, *irc.Message) error { return err }}, m)
}

// join adds c to the channel, creating it if needed, and sends the join
// burst: JOIN to every member, then topic, names and the replay.
func (s *Server) join(c *Client, name, key string) error {
	if !validChannel(name) {
		return ircError{irc.ERR_NOSUCHCHANNEL, []string{name, "No such channel"}}
	}
	if len(c.channelList()) >= maxChannels {
		return ircError{irc.ERR_TOOMANYCHANNELS, []string{name, "You have joined too many channels"}}
	}
	for attempt := 0; attempt < 3; attempt++ {
		ch := s.channelFor(name)
		s.loadRing(c, ch) // fills a cold replay ring; may read the store
		// In a cluster, the node listens to the channel before c is in
		// it, so c misses nothing between its burst and live traffic.
		s.link.subscribe(c, ch)
		// A registered channel's state is saved too: the join may have
		// used up an invite.
		numeric := ch.add(c, key, func() { s.joinBurst(c, ch); s.saveRegisteredLocked(ch); s.link.joined(c, ch) })
		if numeric == "" {
			s.joined(c, ch)
			return nil
		}
		s.link.unsubscribe(c, ch)
		if numeric != "-" {
			return ircError{numeric, []string{ch.name, joinRefusal[numeric]}}
		}
		if _, member := ch.privs(c); member {
			return nil
		}
		// The channel died under us; make a new one.
	}
	return nil
}

var joinRefusal = map[string]string{
	irc.ERR_BADCHANNELKEY:  "Cannot join channel (+k)",
	irc.ERR_CHANNELISFULL:  "Cannot join channel (+l)",
	irc.ERR_INVITEONLYCHAN: "Cannot join channel (+i)",
	irc.ERR_BANNEDFROMCHAN: "Cannot join channel (+b)",
}

// channelFor returns the live channel named name, creating it.
func (s *Server) channelFor(name string) *Channel {
	folded := wire.Casefold(name)
	s.mu.RLock()
	ch := s.channels[folded]
	s.mu.RUnlock()
	if ch != nil {
		return ch
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch = s.channels[folded]; ch == nil {
		ch = newChannel(name)
		s.channels[folded] = ch
		s.metrics.Channels.Inc()
	}
	return ch
}

func (s *Server) lookupChannel(name string) *Channel {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.channels[wire.Casefold(name)]
}

// joinBurst queues JOIN for the members and, for c, its own JOIN, the
// topic, the names and the replay. ch.add runs it in the critical section
// that makes c a member, so c sees all of it before the channel's next
// live message, and the members see the JOIN in the channel's order.
// ch.mu is held.
func (s *Server) joinBurst(c *Client, ch *Channel) {
	c.streamLabeled()
	c.sendOwn(s.announceJoinLocked(c, ch))
	s.sendJoinMarker(c, ch)
	s.sendTopicState(c, ch.name, ch.topic, false)
	s.sendNamesList(c, ch.name, ch.namesListLocked(c.caps.has(capMultiPrefix), c.caps.has(capUserhostInNames)), ch.modes.secret)
	s.replay(c, ch.name, s.joinReplay(c, ch))
	s.metadataJoinBurst(c, ch)
}

// announceJoinLocked tells ch's other members that c joined and returns
// the JOIN; ch.mu is held.
func (s *Server) announceJoinLocked(c *Client, ch *Channel) *outMsg {
	p := c.prefix()
	o := &outMsg{
		base:     &irc.Message{Prefix: p, Command: "JOIN", Params: []string{ch.name}},
		extended: &irc.Message{Prefix: p, Command: "JOIN", Params: []string{ch.name, accountOrStar(c), c.realName()}},
		at:       time.Now(),
		account:  c.account(),
	}
	pending := &c.pending
	if c.remote != nil {
		pending = nil // a remote user's join arrives on the cluster's goroutine
	}
	s.deliverTo(pending, ch.snapshot, o, func(r *Client) bool { return r != c })
	return o
}

// joined records c's membership of ch on c's side, after ch.add.
func (s *Server) joined(c *Client, ch *Channel) {
	c.mu.Lock()
	c.channels[ch] = struct{}{}
	c.mu.Unlock()
	s.metrics.ChannelMembers.Inc()
	if c.isAway() {
		s.notifyAway(c, ch)
	}
}

func handlePart(c *Client, m *irc.Message) error {
	for _, name := range splitList(m.Params[0]) {
		ch := c.srv.lookupChannel(name)
		if ch == nil {
			c.numeric(irc.ERR_NOSUCHCHANNEL, name, "No such channel")
			continue
		}
		if _, ok := ch.privs(c); !ok {
			c.numeric(irc.ERR_NOTONCHANNEL, ch.name, "You're not on that channel")
			continue
		}
		c.srv.part(c, ch, truncate(m.Param(1), topicLen))
	}
	return nil
}

// part tells the channel c leaves, then removes c.
func (s *Server) part(c *Client, ch *Channel, reason string) {
	params := []string{ch.name}
	if reason != "" {
		params = append(params, reason)
	}
	o := &outMsg{base: &irc.Message{Prefix: c.prefix(), Command: "PART", Params: params}, at: time.Now(), account: c.account()}
	s.deliver(ch.Members(), o, func(r *Client) bool { return r != c })
	c.sendOwn(o)
	s.link.parted(c, ch, reason)
	s.leave(c, ch)
}

// leave removes c from ch without telling anyone (QUIT, KICK do that).
func (s *Server) leave(c *Client, ch *Channel) {
	if !ch.remove(c) {
		return
	}
	c.mu.Lock()
	delete(c.channels, ch)
	c.mu.Unlock()
	s.metrics.ChannelMembers.Dec()
	s.link.unsubscribe(c, ch)
	s.dropIfEmpty(ch)
}

// dropIfEmpty forgets a channel nobody is in and that holds nothing worth
// keeping; channels with topic, modes or history stay so they come back.
func (s *Server) dropIfEmpty(ch *Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !ch.isEmptyStateless() || ch.dead {
		return
	}
	ch.dead = true
	delete(s.channels, ch.folded)
	s.metrics.Channels.Dec()
}

func handleTopic(c *Client, m *irc.Message) error {
	ch := c.srv.lookupChannel(m.Params[0])
	if ch == nil {
		return ircError{irc.ERR_NOSUCHCHANNEL, []string{m.Params[0], "No such channel"}}
	}
	privs, member := ch.privs(c)
	if len(m.Params) < 2 {
		if !member && ch.isSecret() {
			return ircError{irc.ERR_NOTONCHANNEL, []string{ch.name, "You're not on that channel"}}
		}
		c.srv.sendTopic(c, ch, true)
		return nil
	}
	if !member && !c.isOper() {
		return ircError{irc.ERR_NOTONCHANNEL, []string{ch.name, "You're not on that channel"}}
	}
	if ch.topicLocked() && privs&privOp == 0 && !c.isOper() {
		return ircError{irc.ERR_CHANOPRIVSNEEDED, []string{ch.name, "You're not channel operator"}}
	}
	c.srv.setTopic(c, ch, truncate(m.Params[1], topicLen))
	return nil
}

// setTopic changes ch's topic, persists it and tells every member, all
// under ch.mu: members see concurrent changes in the order they were made,
// and the state stored last is the one they saw last. Saving only queues
// the state, so a slow store delays nobody.
func (s *Server) setTopic(c *Client, ch *Channel, text string) {
	now := storedTime(time.Now())
	s.showTopic(c, ch, text, now, s.newMsgID(now))
}

// showTopic sets ch's topic and tells the members. The topic's node
// persists it and tells the other nodes.
func (s *Server) showTopic(c *Client, ch *Channel, text string, at time.Time, msgid string) {
	setter, prefix, key := c.hostmask(), c.prefix(), s.channelKey(ch)
	o := &outMsg{base: &irc.Message{Prefix: prefix, Command: "TOPIC", Params: []string{ch.name, text}}, at: at, msgid: msgid, account: c.account()}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.topic = topicState{text: text, setter: setter, at: at}
	if c.remote == nil {
		s.history.SaveChannel(key, ch.stateLocked())
		s.link.topic(c, ch, o)
	}
	s.deliver(ch.snapshot, o, nil)
}

func (ch *Channel) topicLocked() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.modes.topicLock
}

func (ch *Channel) isSecret() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.modes.secret
}

// sendTopic sends 332/333, or 331 when asked explicitly and none is set.
func (s *Server) sendTopic(c *Client, ch *Channel, explicit bool) {
	ch.mu.Lock()
	t := ch.topic
	ch.mu.Unlock()
	s.sendTopicState(c, ch.name, t, explicit)
}

// sendTopicState sends channel name's topic t; an unset one only when
// asked for explicitly.
func (s *Server) sendTopicState(c *Client, name string, t topicState, explicit bool) {
	if t.text == "" {
		if explicit {
			c.numeric(irc.RPL_NOTOPIC, name, "No topic is set")
		}
		return
	}
	c.numeric(irc.RPL_TOPIC, name, t.text)
	c.numeric(rplTopicWhoTime, name, t.setter, itoa(int(t.at.Unix())))
}

func handleNames(c *Client, m *irc.Message) error {
	if len(m.Params) == 0 {
		c.numeric(irc.RPL_ENDOFNAMES, "*", "End of /NAMES list")
		return nil
	}
	for _, name := range splitList(m.Params[0]) {
		ch := c.srv.lookupChannel(name)
		if ch == nil || !c.canSee(ch) {
			c.numeric(irc.RPL_ENDOFNAMES, name, "End of /NAMES list")
			continue
		}
		c.srv.sendNames(c, ch)
	}
	return nil
}

// canSee reports whether c may see ch's members and topic.
func (c *Client) canSee(ch *Channel) bool {
	if _, member := ch.privs(c); member {
		return true
	}
	return !ch.isSecret() || c.isOper()
}

// sendNames sends 353 lines packed up to the line limit, then 366.
func (s *Server) sendNames(c *Client, ch *Channel) {
	names := ch.namesList(c.caps.has(capMultiPrefix), c.caps.has(capUserhostInNames))
	s.sendNamesList(c, ch.name, names, ch.isSecret())
}

// sendNamesList sends the NAMES reply for channel name listing names.
func (s *Server) sendNamesList(c *Client, name string, names []string, secret bool) {
	symbol := "="
	if secret {
		symbol = "@"
	}
	const budget = 400 // leaves room for prefix, numeric, nick and channel
	var line []string
	size := 0
	for _, n := range names {
		if size+len(n)+1 > budget && len(line) > 0 {
			c.numeric(irc.RPL_NAMREPLY, symbol, name, strings.Join(line, " "))
			line, size = nil, 0
		}
		line = append(line, n)
		size += len(n) + 1
	}
	if len(line) > 0 {
		c.numeric(irc.RPL_NAMREPLY, symbol, name, strings.Join(line, " "))
	}
	c.numeric(irc.RPL_ENDOFNAMES, name, "End of /NAMES list")
}

// channelSnapshot returns every channel the server holds.
func (s *Server) channelSnapshot() []*Channel { return snapshot(s, s.channels) }

// handleKick answers KICK <channel>{,<channel>} <nick>{,<nick>} [:<reason>]
// as RFC 2812 says: one channel and any number of nicks (up to TARGMAX),
// or as many channels as nicks, taken in pairs.
func handleKick(c *Client, m *irc.Message) error {
	chans, nicks := splitList(m.Params[0]), splitList(m.Params[1])
	switch {
	case len(chans) == 0 || len(nicks) == 0 || len(chans) != 1 && len(chans) != len(nicks):
		return ircError{irc.ERR_NEEDMOREPARAMS, []string{"KICK", "Not enough parameters"}}
	case len(nicks) > maxTargets:
		return ircError{irc.ERR_TOOMANYTARGETS, []string{paramSafe(m.Params[1]), "Too many targets"}}
	}
	reason := truncate(m.Param(2), kickLen)
	if reason == "" {
		reason = c.Nick()
	}
	for i, nick := range nicks {
		name := chans[0]
		if len(chans) > 1 {
			name = chans[i]
		}
		if err := c.srv.kick(c, name, nick, reason); err != nil {
			c.srv.replyError(c, m, err)
		}
	}
	return nil
}

// kick removes nick from channel name, if c may.
func (s *Server) kick(c *Client, name, nick, reason string) error {
	ch := s.lookupChannel(name)
	if ch == nil {
		return ircError{irc.ERR_NOSUCHCHANNEL, []string{paramSafe(name), "No such channel"}}
	}
	privs, member := ch.privs(c)
	if !member && !c.isOper() {
		return ircError{irc.ERR_NOTONCHANNEL, []string{ch.name, "You're not on that channel"}}
	}
	if privs&privOp == 0 && !c.isOper() {
		return ircError{irc.ERR_CHANOPRIVSNEEDED, []string{ch.name, "You're not channel operator"}}
	}
	target := s.lookupClient(nick)
	if target == nil {
		return ircError{irc.ERR_NOSUCHNICK, []string{paramSafe(nick), "No such nick/channel"}}
	}
	if _, in := ch.privs(target); !in {
		return ircError{irc.ERR_USERNOTINCHANNEL, []string{target.Nick(), ch.name, "They aren't on that channel"}}
	}
	s.kickMember(c, ch, target, reason)
	return nil
}

// kickMember removes target from ch, telling the members.
func (s *Server) kickMember(c *Client, ch *Channel, target *Client, reason string) {
	o := &outMsg{base: &irc.Message{Prefix: c.prefix(), Command: "KICK", Params: []string{ch.name, target.Nick(), reason}}, at: time.Now(), account: c.account()}
	s.deliver(ch.Members(), o, nil)
	s.link.kicked(c, ch, target, reason)
	s.leave(target, ch)
}

// handleInvite invites a user to a channel or, given no parameters,
// lists the channels the caller is invited to.
func handleInvite(c *Client, m *irc.Message) error {
	switch len(m.Params) {
	case 0:
		return c.srv.sendInvites(c)
	case 1:
		return ircError{irc.ERR_NEEDMOREPARAMS, []string{"INVITE", "Not enough parameters"}}
	}
	target := c.srv.lookupClient(m.Params[0])
	if target == nil {
		return c.srv.inviteOffline(c, m.Params[0], m.Params[1])
	}
	ch, err := mayInvite(c, m.Params[1])
	if err != nil {
		return err
	}
	if _, in := ch.privs(target); in {
		return ircError{irc.ERR_USERONCHANNEL, []string{target.Nick(), ch.name, "is already on channel"}}
	}
	c.numeric(irc.RPL_INVITING, target.Nick(), ch.name)
	if away := target.awayMessage(); away != "" {
		c.numeric(irc.RPL_AWAY, target.Nick(), away)
	}
	c.srv.invite(c, ch, target)
	return nil
}

// invite lets target past +i and tells it, and the channel operators
// who asked for invite-notify.
func (s *Server) invite(c *Client, ch *Channel, target *Client) {
	ch.mu.Lock()
	ch.invites[target.foldedNick()] = struct{}{}
	if c.remote == nil {
		s.saveRegisteredLocked(ch)
	}
	ch.mu.Unlock()
	inv := &irc.Message{Prefix: c.prefix(), Command: "INVITE", Params: []string{target.Nick(), ch.name}}
	o := &outMsg{base: inv, at: time.Now(), account: c.account()}
	s.deliver([]*Client{target}, o, nil)
	if c.remote == nil {
		s.pushDirect(c, target.account(), o)
		s.link.invited(c, ch, target)
	}
	// invite-notify: other channel operators who asked for it hear of it too.
	s.deliver(ch.Members(), o, func(r *Client) bool {
		p, _ := ch.privs(r)
		return r != c && r != target && p&privOp != 0 && r.caps.has(capInviteNotify)
	})
}

// mayInvite returns the channel named name if c may invite others to it:
// c is a member (or an operator), and an operator of a +i channel.
func mayInvite(c *Client, name string) (*Channel, error) {
	ch := c.srv.lookupChannel(name)
	if ch == nil {
		return nil, ircError{irc.ERR_NOSUCHCHANNEL, []string{name, "No such channel"}}
	}
	privs, member := ch.privs(c)
	if !member && !c.isOper() {
		return nil, ircError{irc.ERR_NOTONCHANNEL, []string{ch.name, "You're not on that channel"}}
	}
	ch.mu.Lock()
	inviteOnly := ch.modes.inviteOnly
	ch.mu.Unlock()
	if inviteOnly && privs&privOp == 0 && !c.isOper() {
		return nil, ircError{irc.ERR_CHANOPRIVSNEEDED, []string{ch.name, "You're not channel operator"}}
	}
	return ch, nil
}

// sendInvites answers INVITE without parameters: 336 for each channel c
// is invited to and has not joined yet, then 337.
func (s *Server) sendInvites(c *Client) error {
	s.mu.RLock()
	chans := make([]*Channel, 0, len(s.channels))
	for _, ch := range s.channels {
		chans = append(chans, ch)
	}
	s.mu.RUnlock()
	nick := c.foldedNick()
	var names []string
	for _, ch := range chans {
		ch.mu.Lock()
		if _, invited := ch.invites[nick]; invited && !ch.dead {
			names = append(names, ch.name)
		}
		ch.mu.Unlock()
	}
	sort.Strings(names)
	for _, name := range names {
		c.numeric(rplInviteList, name)
	}
	c.numeric(rplEndOfInviteList, "End of /INVITE list")
	return nil
}
