package ircd

import (
	"time"

	"securechat/ircd/accounts"
	"securechat/ircd/history"
)

// What this node tells the others when its own users act. Each method
// does nothing without a cluster or for a remote user, whose node
// published the change already, so the server's code paths can call
// them whoever acted.

// local reports whether l is a cluster link and c one of this node's users.
func (l *clusterLink) local(c *Client) bool { return l != nil && c.remote == nil }

// userChanged publishes c's state: after registration, and after a nick,
// away, realname, account or mode change.
func (l *clusterLink) userChanged(c *Client) {
	if l.local(c) && c.isRegistered() {
		l.state(&event{Kind: evUser, UID: l.uid(c), User: stateOf(c)})
	}
}

// quit publishes that c left and frees its nick.
func (l *clusterLink) quit(c *Client, reason string) {
	if !l.local(c) {
		return
	}
	l.state(&event{Kind: evQuit, UID: l.uid(c), Text: reason})
	l.releaseNick(c.foldedNick())
}

// joined publishes c's join with the privileges it got; ch.mu is held.
func (l *clusterLink) joined(c *Client, ch *Channel) {
	if l.local(c) {
		l.state(&event{Kind: evJoin, UID: l.uid(c), Chan: ch.name, Privs: ch.members[c]})
	}
}

func (l *clusterLink) parted(c *Client, ch *Channel, reason string) {
	if l.local(c) {
		l.state(&event{Kind: evPart, UID: l.uid(c), Chan: ch.name, Text: reason})
	}
}

func (l *clusterLink) kicked(c *Client, ch *Channel, target *Client, reason string) {
	if l.local(c) {
		l.state(&event{Kind: evKick, UID: l.uid(c), Chan: ch.name, Target: l.uid(target), Nick: target.Nick(), Text: reason})
	}
}

// topic publishes a topic change; ch.mu is held.
func (l *clusterLink) topic(c *Client, ch *Channel, o *outMsg) {
	if l.local(c) {
		l.state(&event{Kind: evTopic, UID: l.uid(c), Chan: ch.name, Text: o.base.Params[1], At: o.at.UnixMilli(), MsgID: o.msgid})
	}
}

// modes publishes the mode changes that took effect, as the MODE line
// shows them; ch.mu is held.
func (l *clusterLink) modes(c *Client, ch *Channel, params []string) {
	if l.local(c) {
		l.state(&event{Kind: evMode, UID: l.uid(c), Chan: ch.name, Params: params})
	}
}

func (l *clusterLink) invited(c *Client, ch *Channel, target *Client) {
	if l.local(c) {
		l.state(&event{Kind: evInvite, UID: l.uid(c), Chan: ch.name, Target: l.uid(target), Nick: target.Nick()})
	}
}

// channelMessage publishes a channel message on the channel's own shard
// channel, with its time and msgid; ch.mu is held, so the nodes get the
// channel's messages in this node's order.
func (l *clusterLink) channelMessage(c *Client, ch *Channel, o *outMsg) {
	if l.local(c) {
		l.publish(l.s.channelKey(ch), messageEvent(evMsg, c, o, ch.name))
	}
}

// direct sends a private message to the node of its remote recipient.
func (l *clusterLink) direct(c, target *Client, o *outMsg) {
	if l.local(c) && target.remote != nil {
		ev := messageEvent(evDirect, c, o, "")
		ev.Target, ev.Nick = target.remote.uid, target.Nick()
		l.toNode(target.remote.node, ev)
	}
}

// kill asks a remote user's node to disconnect it.
func (l *clusterLink) kill(target *Client, reason string) {
	if l != nil && target.remote != nil {
		l.toNode(target.remote.node, &event{Kind: evKill, Target: target.remote.uid, Nick: target.Nick(), Text: reason})
	}
}

// messageEvent describes a PRIVMSG, NOTICE or TAGMSG from c.
func messageEvent(kind string, c *Client, o *outMsg, ch string) *event {
	ev := &event{
		Kind: kind, Chan: ch, From: o.base.Prefix.String(), Cmd: o.base.Command,
		Tags: o.tags, At: o.at.UnixMilli(), MsgID: o.msgid, Acct: o.account,
	}
	if len(o.base.Params) > 1 {
		ev.Text = o.base.Params[1]
	}
	return ev
}

// multiline publishes a multiline message to a channel (target nil) or
// sends it to its remote recipient's node.
func (l *clusterLink) multiline(c *Client, ch *Channel, target *Client, e *history.Entry) {
	if !l.local(c) {
		return
	}
	switch {
	case ch != nil:
		l.publish(l.s.channelKey(ch), multilineEvent(c, e, ch.name))
	case target.remote != nil:
		ev := multilineEvent(c, e, "")
		ev.Target, ev.Nick = target.remote.uid, target.Nick()
		l.toNode(target.remote.node, ev)
	}
}

// redacted publishes the redaction of msgid in ch; o is the REDACT line.
func (l *clusterLink) redacted(c *Client, ch *Channel, o *outMsg) {
	if l.local(c) {
		l.publish(l.s.channelKey(ch), &event{Kind: evRedact, From: o.base.Prefix.String(), Chan: ch.name,
			Params: o.base.Params[1:], At: o.at.UnixMilli(), MsgID: o.msgid, Acct: o.account})
	}
}

// accountChanged tells every node of an account registered here, or of
// a change to the nicks it owns.
func (l *clusterLink) accountChanged(a accounts.Account) {
	if l != nil {
		l.state(&event{Kind: evAccount, Account: &a})
	}
}

// markerMoved tells every node that account read target up to at.
func (l *clusterLink) markerMoved(c *Client, account, target string, at time.Time) {
	if l.local(c) {
		l.state(&event{Kind: evMarker, Text: account, Chan: target, At: at.UnixMilli()})
	}
}

// pushChanged tells every node of an account's new push subscriptions,
// so whichever node a message arrives on pushes it.
func (l *clusterLink) pushChanged(rec *pushRecord) {
	if l != nil {
		l.state(&event{Kind: evPush, Push: rec})
	}
}

// registered tells every node that ch was registered (to its founder)
// or unregistered; ch.mu is held.
func (l *clusterLink) registered(ch *Channel) {
	if l != nil {
		l.state(&event{Kind: evChanReg, Chan: ch.name, Text: ch.reg.founder, At: ch.reg.at.UnixMilli()})
	}
}

// renamed tells every node that c renamed old to nc, and moves this
// node's subscription to the channel's new key.
func (l *clusterLink) renamed(c *Client, old, nc *Channel, reason string) {
	if !l.local(c) {
		return
	}
	l.state(&event{Kind: evRename, UID: l.uid(c), Chan: old.name, Params: []string{nc.name}, Text: reason})
	l.moveSubscriptions(old, nc)
}

// moveSubscriptions subscribes this node to a renamed channel's new key
// once per local member and drops the old key's.
func (l *clusterLink) moveSubscriptions(old, nc *Channel) {
	for _, m := range nc.Members() {
		l.subscribe(m, nc)
		l.unsubscribe(m, old)
	}
}

// wallops sends an operator's WALLOPS to the users of every node.
func (l *clusterLink) wallops(c *Client, o *outMsg) {
	if l.local(c) {
		l.state(&event{Kind: evWallops, From: o.base.Prefix.String(), Text: o.base.Params[0]})
	}
}

// metaChanged tells every node that c set (or, with del, deleted) key of
// its own metadata (ch nil) or of ch's.
func (l *clusterLink) metaChanged(c *Client, ch *Channel, key, value string, del bool) {
	if !l.local(c) {
		return
	}
	ev := &event{Kind: evMeta, UID: l.uid(c), Params: []string{key, value}}
	if del {
		ev.Params = ev.Params[:1]
	}
	if ch != nil {
		ev.Chan = ch.name
	}
	l.state(ev)
}
