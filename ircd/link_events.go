package ircd

import (
	"encoding/json"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/accounts"
	"securechat/ircd/cluster"
	"securechat/ircd/transport"
)

// event is what one node tells the others, sealed by the cluster package.
// Users are named by uid (see clusterLink.uid); a target's nick travels
// too, so the receiving node can check it still means the same user.
type event struct {
	Kind   string     `json:"k"`
	UID    string     `json:"u,omitempty"`
	User   *userState `json:"user,omitempty"`
	Chan   string     `json:"ch,omitempty"`
	Target string     `json:"t,omitempty"`  // uid of the user acted on
	Nick   string     `json:"n,omitempty"`  // that user's nick
	From   string     `json:"f,omitempty"`  // sender's nick!user@host, for messages
	Privs  uint8      `json:"p,omitempty"`  // join: the member's privileges
	Cmd    string     `json:"c,omitempty"`  // PRIVMSG, NOTICE or TAGMSG
	Text   string     `json:"x,omitempty"`  // message, reason or topic
	Params []string   `json:"m,omitempty"`  // mode: the MODE line's parameters after the channel
	Tags   irc.Tags   `json:"g,omitempty"`  // client-only tags
	At     int64      `json:"at,omitempty"` // unix milliseconds
	MsgID  string     `json:"id,omitempty"`
	Acct   string     `json:"a,omitempty"` // sender's account, for account-tag
	Lines  []mlLine   `json:"l,omitempty"` // a multiline message's lines
	// Account is an account as registered or changed, which every node
	// takes in (its password hash included: the payload is sealed).
	Account *accounts.Account `json:"acct,omitempty"`
	// Push is an account's Web Push subscriptions, as stored.
	Push *pushRecord `json:"push,omitempty"`
}

// Event kinds.
const (
	evHello  = "hello"  // a node (re)joined: send it your users
	evUser   = "user"   // a user's state, new or changed; in a burst with its channels
	evQuit   = "quit"   // a user left
	evJoin   = "join"   // a user joined a channel
	evPart   = "part"   // a user left a channel
	evKick   = "kick"   // UID kicked Target
	evTopic  = "topic"  // UID set the topic
	evMode   = "mode"   // UID changed channel modes
	evInvite = "invite" // UID invited Target
	evMsg    = "msg"    // a channel message, on the channel's shard channel
	evDirect = "pm"     // a private message, to the recipient's node
	evKill   = "kill"   // disconnect Target, to its node

	evMultiline = "mline"   // a multiline message, like evMsg or evDirect
	evRedact    = "redact"  // a channel message redacted (Params: its msgid, reason)
	evAccount   = "acct"    // an account registered, or its nicks changed
	evMarker    = "marker"  // account Text read Chan up to At
	evPush      = "push"    // an account's push subscriptions changed
	evChanReg   = "chanreg" // channel Chan registered to founder Text ("": unregistered)
	evRename    = "rename"  // UID renamed channel Chan to Params[0]
	evWallops   = "wallops" // a WALLOPS from From
	evMeta      = "meta"    // UID set Params[0] to Params[1] (deleted without it), of Chan or itself
)

// userState is a user as the other nodes see it.
type userState struct {
	Nick      string            `json:"n"`
	User      string            `json:"u"`
	Host      string            `json:"h"`
	Real      string            `json:"r"`
	Account   string            `json:"a,omitempty"`
	Away      string            `json:"w,omitempty"`
	Oper      bool              `json:"o,omitempty"`
	Invisible bool              `json:"i,omitempty"`
	Bot       bool              `json:"b,omitempty"`
	Signon    int64             `json:"s"`
	Chans     map[string]uint8  `json:"c,omitempty"` // burst only: channel name -> privileges
	Meta      map[string]string `json:"m,omitempty"` // burst only: the user's metadata
}

// stateOf describes c for the other nodes.
func stateOf(c *Client) *userState {
	acct := c.account()
	c.mu.Lock()
	defer c.mu.Unlock()
	return &userState{
		Nick: c.nick, User: c.user, Host: c.host, Real: c.realname, Account: acct, Away: c.away,
		Oper: c.oper, Invisible: c.invisible, Bot: c.bot, Signon: c.signon.UnixMilli(),
	}
}

// burstOf is c's state with its channels, as a node (re)joining learns it.
func (l *clusterLink) burstOf(c *Client) *event {
	u := stateOf(c)
	c.mu.Lock()
	u.Meta = c.meta.values // replaced on change, never mutated
	c.mu.Unlock()
	u.Chans = make(map[string]uint8)
	for _, ch := range c.channelList() {
		if p, ok := ch.privs(c); ok {
			u.Chans[ch.name] = p
		}
	}
	return &event{Kind: evUser, UID: l.uid(c), User: u}
}

// receive handles an event from another node, on the cluster's receive
// goroutine: it applies it to local state and tells local clients.
func (l *clusterLink) receive(m cluster.Message) {
	<-l.ready
	var ev event
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		l.dropped.Add(1)
		return
	}
	p := l.routes[m.Route].writes()
	if !l.applyNode(m.Origin, &ev) && !l.applyLocal(&ev, p) && !l.applyGhost(&ev, p) {
		l.dropped.Add(1)
	}
}

// applyNode handles the events about the node itself and about
// accounts, which name no user.
func (l *clusterLink) applyNode(origin string, ev *event) bool {
	s := l.s
	switch {
	case ev.Kind == evHello:
		l.sendBurst(origin)
	case ev.Kind == evUser:
		l.upsert(origin, ev)
	case ev.Kind == evAccount && s.accounts != nil && ev.Account != nil:
		s.accounts.Put(*ev.Account)
	case ev.Kind == evMarker:
		s.remoteMarker(ev.Text, ev.Chan, msgTime(ev.At))
	case ev.Kind == evPush && s.push != nil && ev.Push != nil:
		s.push.adopt(ev.Push)
	case ev.Kind == evChanReg:
		s.remoteRegistration(ev)
	case ev.Kind == evWallops:
		s.remoteWallops(ev)
	default:
		return false
	}
	return true
}

// applyLocal handles the events that act on this node's own users.
func (l *clusterLink) applyLocal(ev *event, p *transport.Pending) bool {
	switch ev.Kind {
	case evDirect:
		l.s.remoteDirect(ev, p)
	case evKill:
		if t := l.s.localUser(ev.Nick, ev.Target); t != nil {
			t.disconnect(ev.Text)
		}
	default:
		return false
	}
	return true
}

// applyGhost handles the events a remote user causes; false when the
// user is unknown here. Messages are written through p.
func (l *clusterLink) applyGhost(ev *event, p *transport.Pending) bool {
	g := l.ghost(ev.UID)
	if g == nil && !messageKinds[ev.Kind] {
		return false
	}
	s := l.s
	switch ev.Kind {
	case evQuit:
		l.dropGhost(g, ev.Text)
	case evJoin:
		s.remoteJoin(g, ev.Chan, ev.Privs)
	case evPart:
		if ch := s.lookupChannel(ev.Chan); ch != nil {
			s.part(g, ch, ev.Text)
		}
	case evKick:
		s.remoteKick(g, ev)
	case evTopic:
		s.remoteTopic(g, ev)
	case evMode:
		s.remoteModes(g, ev)
	case evInvite:
		s.remoteInvite(g, ev)
	case evRename:
		s.remoteRename(g, ev)
	case evMeta:
		s.remoteMeta(g, ev)
	case evMsg:
		s.remoteChannelMessage(ev, p)
	case evMultiline:
		s.remoteMultiline(ev, p)
	case evRedact:
		s.remoteRedact(ev)
	default:
		return false
	}
	return true
}

// messageKinds carry their sender's prefix, so they are delivered even
// from a user this node has not heard of yet.
var messageKinds = map[string]bool{evMsg: true, evMultiline: true, evRedact: true}

// sendBurst tells a node that just (re)joined about this node's users,
// then the settings of the channels they are in.
func (l *clusterLink) sendBurst(node string) {
	for _, c := range l.s.localClients() {
		l.toNode(node, l.burstOf(c))
	}
	for _, ch := range l.s.channelSnapshot() {
		for _, ev := range l.channelBurst(ch) {
			l.toNode(node, ev)
		}
	}
}

// channelBurst is ch's modes and mask lists as MODE changes by one of
// its local members, at most maxModes parameters each, or nothing if it
// has no local member. Applying them changes only what differs.
func (l *clusterLink) channelBurst(ch *Channel) []*event {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	var setter *Client
	for m := range ch.members {
		if m.remote == nil {
			setter = m
			break
		}
	}
	if setter == nil {
		return nil
	}
	var b modeBuilder
	for _, f := range []byte(channelFlagModes) {
		b.add(*ch.modes.flag(f), f, "")
	}
	if ch.modes.key != "" {
		b.add(true, 'k', ch.modes.key)
	}
	if ch.modes.limit > 0 {
		b.add(true, 'l', itoa(ch.modes.limit))
	}
	out := []*event{{Kind: evMode, UID: l.uid(setter), Chan: ch.name, Params: b.params()}}
	b = modeBuilder{}
	for _, mode := range []byte("beI") {
		for _, e := range *ch.maskList(mode) {
			if len(b.args) == maxModes {
				out = append(out, &event{Kind: evMode, UID: l.uid(setter), Chan: ch.name, Params: b.params()})
				b = modeBuilder{}
			}
			b.add(true, mode, e.mask)
		}
	}
	if !b.empty() {
		out = append(out, &event{Kind: evMode, UID: l.uid(setter), Chan: ch.name, Params: b.params()})
	}
	return out
}

// msgTime is a message's time from an event.
func msgTime(ms int64) time.Time { return time.UnixMilli(ms) }

// localUser returns this node's registered user with nick, if it is the
// user uid names.
func (s *Server) localUser(nick, uid string) *Client {
	c := s.lookupClient(nick)
	if c == nil || c.remote != nil || s.link.uid(c) != uid {
		return nil
	}
	return c
}
