package ircd

import (
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

// remoteUser marks a Client that stands for a user of another node: a
// ghost. It has no connection; what is sent to it is dropped, since its
// own node delivers to it. It is set at creation and never changes.
type remoteUser struct {
	node string
	uid  string
}

// ghost returns the remote user uid names, or nil.
func (l *clusterLink) ghost(uid string) *Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ghosts[uid]
}

// upsert introduces a remote user or applies a change to one: a new
// nick, away state, realname, account or modes, and in a burst the
// channels it is in. Local clients see the lines they would see if the
// user were local.
func (l *clusterLink) upsert(node string, ev *event) {
	u := ev.User
	if u == nil || !validNick(u.Nick) {
		l.dropped.Add(1)
		return
	}
	g := l.ghost(ev.UID)
	if g == nil {
		if g = l.introduce(node, ev.UID, u); g == nil {
			return
		}
	} else {
		l.s.updateGhost(g, u)
	}
	for name, privs := range u.Chans {
		l.s.remoteJoin(g, name, privs)
	}
}

// introduce adds a remote user to the namespace. A nick held here already
// means the two nodes disagree (after a partition); Redis holds the
// truth and the loser is renamed by its own node, so the newcomer waits
// for its next state.
func (l *clusterLink) introduce(node, uid string, u *userState) *Client {
	s := l.s
	g := &Client{
		srv: s, remote: &remoteUser{node: node, uid: uid}, log: s.log.With("remote", uid),
		signon: time.UnixMilli(u.Signon), channels: make(map[*Channel]struct{}),
	}
	folded := wire.Casefold(u.Nick)
	s.mu.Lock()
	if _, taken := s.clients[folded]; taken {
		s.mu.Unlock()
		s.log.Warn("cluster: a remote user's nick is held here; waiting for the claim to settle")
		return nil
	}
	g.mu.Lock()
	g.nick, g.nickFolded = u.Nick, folded
	g.user, g.host, g.realname, g.away = u.User, u.Host, u.Real, u.Away
	g.oper, g.invisible, g.bot, g.registered = u.Oper, u.Invisible, u.Bot, true
	g.meta.values = u.Meta
	g.setListedLocked(true)
	g.mu.Unlock()
	g.setAccount(u.Account)
	s.clients[folded] = g
	s.mu.Unlock()
	l.mu.Lock()
	l.ghosts[uid] = g
	l.mu.Unlock()
	s.monitorNickChange("", g.prefix())
	return g
}

// setAccount records the account a remote user is logged in to.
func (c *Client) setAccount(account string) {
	if account == "" {
		c.acct.Store(nil)
		return
	}
	c.acct.Store(&account)
}

// updateGhost applies a remote user's new state and tells local clients
// what changed, as the same change by a local user would.
func (s *Server) updateGhost(g *Client, u *userState) {
	if g.Nick() != u.Nick && !s.renameGhost(g, u.Nick) {
		return
	}
	g.mu.Lock()
	away, real := g.away != u.Away, g.realname != u.Real
	g.away, g.realname, g.bot = u.Away, u.Real, u.Bot
	g.changeModesLocked(func() { g.oper, g.invisible = u.Oper, u.Invisible })
	g.mu.Unlock()
	if away {
		m := &irc.Message{Prefix: g.prefix(), Command: "AWAY"}
		if u.Away != "" {
			m.Params = []string{u.Away}
		}
		s.notifyChange(g, m, capAwayNotify, false)
	}
	if real {
		s.notifyChange(g, &irc.Message{Prefix: g.prefix(), Command: "SETNAME", Params: []string{u.Real}}, capSetname, false)
	}
	if g.account() != u.Account {
		g.setAccount(u.Account)
		s.notifyChange(g, &irc.Message{Prefix: g.prefix(), Command: "ACCOUNT", Params: []string{accountOrStar(g)}}, capAccountNotify, false)
	}
}

// renameGhost moves a remote user to its new nick and tells local clients.
func (s *Server) renameGhost(g *Client, nick string) bool {
	folded := wire.Casefold(nick)
	s.mu.Lock()
	if other, taken := s.clients[folded]; taken && other != g {
		s.mu.Unlock()
		s.log.Warn("cluster: a remote user's new nick is held here; waiting for the claim to settle")
		return false
	}
	old := s.setNickLocked(g, nick, folded)
	s.mu.Unlock()
	s.announceNick(g, old, nick, func(*outMsg) {})
	return true
}

// dropGhost removes a remote user, with the QUIT reason its channels see.
func (l *clusterLink) dropGhost(g *Client, reason string) {
	l.mu.Lock()
	_, known := l.ghosts[g.remote.uid]
	delete(l.ghosts, g.remote.uid)
	l.mu.Unlock()
	if known {
		l.s.removeClient(g, reason)
	}
}

// dropGhosts removes every remote user gone matches.
func (l *clusterLink) dropGhosts(gone func(*Client) bool, reason string) {
	l.mu.Lock()
	var out []*Client
	for _, g := range l.ghosts {
		if gone(g) {
			out = append(out, g)
		}
	}
	l.mu.Unlock()
	for _, g := range out {
		l.dropGhost(g, reason)
	}
}

// localClients lists this node's registered users.
func (s *Server) localClients() []*Client {
	var out []*Client
	for _, c := range s.clientSnapshot() {
		if c.remote == nil {
			out = append(out, c)
		}
	}
	return out
}

// remoteJoin makes a remote user a member of the channel name with the
// privileges its node gave it, and tells local members. The checks ran
// on its node.
func (s *Server) remoteJoin(g *Client, name string, privs uint8) {
	if !validChannel(name) {
		return
	}
	for attempt := 0; attempt < 3; attempt++ {
		ch := s.channelFor(name)
		switch ch.add(g, "", func() { ch.members[g] = privs; s.announceJoinLocked(g, ch) }) {
		case "":
			s.joined(g, ch)
			return
		case "-":
			if _, member := ch.privs(g); member {
				return
			}
		default:
			return
		}
	}
}

// remoteKick applies a kick made on another node.
func (s *Server) remoteKick(g *Client, ev *event) {
	ch, t := s.lookupChannel(ev.Chan), s.lookupClient(ev.Nick)
	if ch == nil || t == nil || s.link.uid(t) != ev.Target {
		return
	}
	s.kickMember(g, ch, t, ev.Text)
}

// remoteTopic applies a topic set on another node, which stored it.
func (s *Server) remoteTopic(g *Client, ev *event) {
	if ch := s.lookupChannel(ev.Chan); ch != nil {
		s.showTopic(g, ch, ev.Text, msgTime(ev.At), ev.MsgID)
	}
}

// remoteModes applies mode changes made on another node.
func (s *Server) remoteModes(g *Client, ev *event) {
	ch := s.lookupChannel(ev.Chan)
	if ch == nil || len(ev.Params) == 0 {
		return
	}
	p := parseChannelModes(ch.name, ev.Params[0], ev.Params[1:])
	changes := p.changes[:0]
	for _, mc := range p.changes {
		if mc.mode == 'o' || mc.mode == 'v' {
			if mc.target = s.lookupClient(mc.arg); mc.target == nil {
				continue
			}
		}
		changes = append(changes, mc)
	}
	s.changeModes(g, ch, changes)
}

// remoteInvite records an invite made on another node and tells the
// invited user, if it is here, and local operators with invite-notify.
func (s *Server) remoteInvite(g *Client, ev *event) {
	ch, t := s.lookupChannel(ev.Chan), s.lookupClient(ev.Nick)
	if ch == nil || t == nil || s.link.uid(t) != ev.Target {
		return
	}
	s.invite(g, ch, t)
}

// remoteRegistration records a channel registered or unregistered on
// another node, which stored it, so its founder passes here too.
func (s *Server) remoteRegistration(ev *event) {
	if !validChannel(ev.Chan) {
		return
	}
	ch := s.channelFor(ev.Chan)
	ch.mu.Lock()
	ch.reg = chanRegistration{}
	if ev.Text != "" {
		ch.reg = chanRegistration{founder: ev.Text, at: msgTime(ev.At)}
	} else if len(ch.members) == 0 {
		ch.lapseLocked()
	}
	ch.mu.Unlock()
	s.dropIfEmpty(ch)
}

// remoteRename renames a channel as another node did, which moved its
// history, and moves this node's subscription on another goroutine: the
// receive goroutine must not wait for Redis.
func (s *Server) remoteRename(g *Client, ev *event) {
	ch := s.lookupChannel(ev.Chan)
	if ch == nil || len(ev.Params) == 0 || !validChannel(ev.Params[0]) {
		return
	}
	nc, err := s.renameAndAnnounce(g, ch, ev.Params[0], ev.Text, false)
	if err == nil {
		go s.link.moveSubscriptions(ch, nc)
	}
}

// remoteMeta applies a metadata change made on another node and tells
// the local subscribers.
func (s *Server) remoteMeta(g *Client, ev *event) {
	if len(ev.Params) == 0 || !validMetaKey(ev.Params[0]) {
		return
	}
	key, value, del := ev.Params[0], "", len(ev.Params) == 1
	if !del {
		value = ev.Params[1]
	}
	if ev.Chan == "" {
		_ = s.setUserMeta(g, key, value, del)
	} else if ch := s.lookupChannel(ev.Chan); ch != nil {
		_ = s.setChannelMeta(g, ch, key, value, del)
	}
}
