package ircd

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/irc.v4"
)

// IRCv3 draft/metadata-2: user and channel metadata (display name,
// avatar, colour...) with per-client key subscriptions.
//
// Channel metadata persists: it is part of the channel's state, which
// ircd/history seals before it is stored, so it survives a restart and
// moves with a RENAME. User metadata lives with the connection and is
// gone when it closes: without accounts there is nobody to keep it for.

// Metadata limits, advertised in the capability value.
const (
	metaMaxSubs       = 50
	metaMaxKeys       = 20
	metaMaxValueBytes = 300 // keeps RPL_KEYVALUE within one line
	metaMaxKeyLen     = 64
)

// metadataCapValue is draft/metadata-2's CAP LS 302 value.
var metadataCapValue = "max-subs=" + strconv.Itoa(metaMaxSubs) + ",max-keys=" + strconv.Itoa(metaMaxKeys) +
	",max-value-bytes=" + strconv.Itoa(metaMaxValueBytes)

// Metadata numerics.
const (
	rplKeyValue      = "761"
	rplKeyNotSet     = "766"
	rplMetadataSubOK = "770"
	rplMetadataUnsub = "771"
	rplMetadataSubs  = "772"
	metaVisibleToAll = "*" // every key is visible to everyone who may see the target
	failKeyInvalid   = "KEY_INVALID"
)

// userMeta is a client's own metadata and the keys it subscribes to.
// Client.mu guards it; both maps are replaced on change, never mutated,
// so a copy of the struct is a consistent snapshot.
type userMeta struct {
	values map[string]string
	subs   map[string]struct{}
}

// validMetaKey reports whether key may name metadata: lower-case
// letters, digits and _ . / -.
func validMetaKey(key string) bool {
	if key == "" || len(key) > metaMaxKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		b := key[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || strings.IndexByte("_./-", b) >= 0) {
			return false
		}
	}
	return true
}

// cleanMeta keeps the valid entries of stored metadata, at most the key
// limit of them; nil when none are left.
func cleanMeta(in map[string]string) map[string]string {
	var out map[string]string
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if v := in[k]; validMetaKey(k) && utf8.ValidString(v) && len(v) <= metaMaxValueBytes && len(out) < metaMaxKeys {
			if out == nil {
				out = make(map[string]string)
			}
			out[k] = v
		}
	}
	return out
}

// withMeta returns a copy of m with key set to value, or removed when
// del is set; nil when empty.
func withMeta(m map[string]string, key, value string, del bool) map[string]string {
	out := maps.Clone(m)
	if del {
		delete(out, key)
	} else {
		if out == nil {
			out = make(map[string]string)
		}
		out[key] = value
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (c *Client) metaSnapshot() userMeta {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.meta
}

// subscribed reports whether c takes metadata notifications for key.
func (c *Client) subscribed(key string) bool {
	if !c.caps.has(capMetadata) {
		return false
	}
	_, ok := c.metaSnapshot().subs[key]
	return ok
}

// metaTarget is what a METADATA command is about: a client or a channel.
type metaTarget struct {
	name    string
	client  *Client
	channel *Channel
}

func (t metaTarget) values() map[string]string {
	if t.client != nil {
		return t.client.metaSnapshot().values
	}
	t.channel.mu.Lock()
	defer t.channel.mu.Unlock()
	return t.channel.meta
}

func (s *Server) lookupMetaTarget(c *Client, name string) (metaTarget, error) {
	switch {
	case name == "*":
		return metaTarget{name: c.Nick(), client: c}, nil
	case strings.HasPrefix(name, "#"):
		if ch := s.lookupChannel(name); ch != nil {
			return metaTarget{name: ch.name, channel: ch}, nil
		}
	default:
		if t := s.lookupClient(name); t != nil {
			return metaTarget{name: t.Nick(), client: t}, nil
		}
	}
	return metaTarget{}, failError{"INVALID_TARGET", []string{name, "Invalid target"}}
}

// canSeeMeta: anyone sees a user's metadata; a channel's is for its
// members (and operators).
func (c *Client) canSeeMeta(t metaTarget) bool {
	if t.client != nil {
		return true
	}
	_, member := t.channel.privs(c)
	return member || c.isOper()
}

// canEditMeta: users edit their own, channel operators their channel's.
func (c *Client) canEditMeta(t metaTarget) bool {
	if c.isOper() {
		return true
	}
	if t.client != nil {
		return t.client == c
	}
	p, _ := t.channel.privs(c)
	return p&privOp != 0
}

func handleMetadata(c *Client, m *irc.Message) error {
	sub, args := strings.ToUpper(m.Params[1]), m.Params[2:]
	switch sub {
	case "SUB":
		return metaSubscribe(c, args)
	case "UNSUB":
		return metaUnsubscribe(c, args)
	case "SUBS":
		metaListSubs(c)
		return nil
	case "GET", "LIST", "SET", "CLEAR", "SYNC":
	default:
		return failError{"SUBCOMMAND_INVALID", []string{m.Params[1], "Invalid subcommand"}}
	}
	t, err := c.srv.lookupMetaTarget(c, m.Params[0])
	if err != nil {
		return err
	}
	if (sub == "GET" || sub == "SET") && len(args) == 0 {
		return ircError{irc.ERR_NEEDMOREPARAMS, []string{m.Command, "Not enough parameters"}}
	}
	switch {
	case sub == "SET" || sub == "CLEAR":
		if !c.canEditMeta(t) {
			key := "*"
			if sub == "SET" {
				key = args[0]
			}
			return failError{"KEY_NO_PERMISSION", []string{t.name, key, "You may not change this target's metadata"}}
		}
	case !c.canSeeMeta(t):
		return failError{"KEY_NO_PERMISSION", []string{t.name, "*", "You may not see this target's metadata"}}
	}
	switch sub {
	case "GET":
		metaGet(c, t, args)
	case "LIST":
		metaList(c, t)
	case "SET":
		value, del := "", len(args) < 2
		if !del {
			value = args[1]
		}
		return c.srv.setMeta(c, t, args[0], value, del)
	case "CLEAR":
		metaClear(c, t)
	case "SYNC":
		c.srv.metaSync(c, t)
	}
	return nil
}

func metaGet(c *Client, t metaTarget, keys []string) {
	values := t.values()
	ref := c.srv.startBatch(c, "metadata", t.name)
	for _, key := range keys {
		v, ok := values[key]
		switch {
		case !validMetaKey(key):
			c.fail("METADATA", failKeyInvalid, key, "Invalid key")
		case ok:
			c.numeric(rplKeyValue, t.name, key, metaVisibleToAll, v)
		default:
			c.numeric(rplKeyNotSet, t.name, key, "Key not set")
		}
	}
	c.srv.endBatch(c, ref)
}

func metaList(c *Client, t metaTarget) {
	values := t.values()
	ref := c.srv.startBatch(c, "metadata", t.name)
	for _, key := range slices.Sorted(maps.Keys(values)) {
		c.numeric(rplKeyValue, t.name, key, metaVisibleToAll, values[key])
	}
	c.srv.endBatch(c, ref)
}

// setMeta sets or deletes one key of t and tells the subscribers.
func (s *Server) setMeta(c *Client, t metaTarget, key, value string, del bool) error {
	switch {
	case !validMetaKey(key):
		return failError{failKeyInvalid, []string{key, "Invalid key"}}
	case !del && (!utf8.ValidString(value) || len(value) > metaMaxValueBytes):
		return failError{"VALUE_INVALID", []string{"Value is too long or not UTF-8"}}
	}
	var err error
	if t.client != nil {
		err = s.setUserMeta(c, key, value, del)
	} else {
		err = s.setChannelMeta(c, t.channel, key, value, del)
	}
	switch {
	case err != nil:
		return err
	case del:
		c.numeric(rplKeyNotSet, t.name, key, "Key deleted")
	default:
		c.numeric(rplKeyValue, t.name, key, metaVisibleToAll, value)
	}
	return nil
}

// checkMetaChange refuses a change the limits don't allow.
func checkMetaChange(target string, cur map[string]string, key string, del bool) error {
	_, had := cur[key]
	switch {
	case del && !had:
		return failError{"KEY_NOT_SET", []string{target, key, "Key not set"}}
	case !del && !had && len(cur) >= metaMaxKeys:
		return failError{"LIMIT_REACHED", []string{target, "Metadata limit reached"}}
	}
	return nil
}

func (s *Server) setUserMeta(c *Client, key, value string, del bool) error {
	c.mu.Lock()
	err := checkMetaChange(c.nick, c.meta.values, key, del)
	if err == nil {
		c.meta.values = withMeta(c.meta.values, key, value, del)
	}
	c.mu.Unlock()
	if err == nil {
		s.notifyMeta(c, c.neighbours(), c.Nick(), key, value, del)
		s.link.metaChanged(c, nil, key, value, del)
	}
	return err
}

// setChannelMeta changes ch's metadata, saves the state and tells the
// members in one critical section, as setTopic does, so members see
// changes in the order they were made and the stored state is the last.
func (s *Server) setChannelMeta(c *Client, ch *Channel, key, value string, del bool) error {
	storeKey := s.channelKey(ch)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.dead {
		return failError{"INVALID_TARGET", []string{ch.name, "Invalid target"}}
	}
	if err := checkMetaChange(ch.name, ch.meta, key, del); err != nil {
		return err
	}
	ch.meta = withMeta(ch.meta, key, value, del)
	if c.remote == nil { // a remote user's node stored it
		s.history.SaveChannel(storeKey, ch.stateLocked())
		s.link.metaChanged(c, ch, key, value, del)
	}
	s.notifyMeta(c, ch.snapshot, ch.name, key, value, del)
	return nil
}

func metaClear(c *Client, t metaTarget) {
	values := t.values()
	ref := c.srv.startBatch(c, "metadata", t.name)
	for _, key := range slices.Sorted(maps.Keys(values)) {
		var err error
		if t.client != nil {
			err = c.srv.setUserMeta(c, key, "", true)
		} else {
			err = c.srv.setChannelMeta(c, t.channel, key, "", true)
		}
		if err == nil {
			c.numeric(rplKeyValue, t.name, key, metaVisibleToAll, values[key])
		}
	}
	c.srv.endBatch(c, ref)
}

// notifyMeta sends the change of target's key, made by from, to the
// recipients other than from that subscribe to it.
func (s *Server) notifyMeta(from *Client, recipients []*Client, target, key, value string, del bool) {
	params := []string{target, key, metaVisibleToAll}
	if !del {
		params = append(params, value)
	}
	o := &outMsg{base: &irc.Message{Prefix: from.prefix(), Command: "METADATA", Params: params}, at: time.Now()}
	pending := &from.pending
	if from.remote != nil {
		pending = nil // a remote change arrives on the cluster's goroutine
	}
	s.deliverTo(pending, recipients, o, func(r *Client) bool { return r != from && r.subscribed(key) })
}

func metaSubscribe(c *Client, keys []string) error {
	if len(keys) == 0 {
		return ircError{irc.ERR_NEEDMOREPARAMS, []string{"METADATA", "Not enough parameters"}}
	}
	var ok []string
	c.mu.Lock()
	subs := maps.Clone(c.meta.subs)
	if subs == nil {
		subs = make(map[string]struct{})
	}
	var invalid []string
	tooMany := ""
	for _, key := range keys {
		_, have := subs[key]
		switch {
		case !validMetaKey(key):
			invalid = append(invalid, key)
			continue
		case !have && len(subs) >= metaMaxSubs:
			tooMany = key
		}
		if tooMany != "" {
			break
		}
		subs[key] = struct{}{}
		ok = append(ok, key)
	}
	c.meta.subs = subs
	c.mu.Unlock()
	for _, key := range invalid {
		c.fail("METADATA", failKeyInvalid, key, "Invalid key")
	}
	if tooMany != "" {
		c.fail("METADATA", "TOO_MANY_SUBS", tooMany, "Too many subscriptions")
	}
	sendKeyLists(c, rplMetadataSubOK, ok)
	c.srv.sendNewlySubscribed(c, ok)
	return nil
}

// sendNewlySubscribed sends c the current values of keys, just
// subscribed to, for its channels and their members, as the spec asks.
func (s *Server) sendNewlySubscribed(c *Client, keys []string) {
	if len(keys) == 0 || !c.caps.has(capMetadata) {
		return
	}
	subs := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		subs[k] = struct{}{}
	}
	for _, ch := range c.channelList() {
		ch.mu.Lock()
		s.sendChannelMeta(c, ch, "", subs)
		ch.mu.Unlock()
	}
}

func metaUnsubscribe(c *Client, keys []string) error {
	if len(keys) == 0 {
		return ircError{irc.ERR_NEEDMOREPARAMS, []string{"METADATA", "Not enough parameters"}}
	}
	var ok []string
	c.mu.Lock()
	subs := maps.Clone(c.meta.subs)
	for _, key := range keys {
		if validMetaKey(key) {
			delete(subs, key)
			ok = append(ok, key)
		}
	}
	c.meta.subs = subs
	c.mu.Unlock()
	for _, key := range keys {
		if !validMetaKey(key) {
			c.fail("METADATA", failKeyInvalid, key, "Invalid key")
		}
	}
	sendKeyLists(c, rplMetadataUnsub, ok)
	return nil
}

func metaListSubs(c *Client) {
	subs := slices.Sorted(maps.Keys(c.metaSnapshot().subs))
	ref := c.srv.startBatch(c, "metadata-subs")
	sendKeyLists(c, rplMetadataSubs, subs)
	c.srv.endBatch(c, ref)
}

// sendKeyLists sends keys as numeric lines of a few hundred bytes each.
func sendKeyLists(c *Client, numeric string, keys []string) {
	for _, line := range packWords(keys, 300) {
		c.numeric(numeric, line)
	}
}

// metaSync sends c, in one batch, the subscribed metadata of t and, for
// a channel, of its members.
func (s *Server) metaSync(c *Client, t metaTarget) {
	ref := s.startBatch(c, "metadata", t.name)
	if t.client != nil {
		s.sendMeta(c, t.name, t.client.metaSnapshot().values, ref, c.metaSnapshot().subs)
	} else {
		t.channel.mu.Lock()
		s.sendChannelMeta(c, t.channel, ref, c.metaSnapshot().subs)
		t.channel.mu.Unlock()
	}
	s.endBatch(c, ref)
}

// sendChannelMeta sends c the metadata of ch and its other members for
// the keys in subs. ch.mu is held.
func (s *Server) sendChannelMeta(c *Client, ch *Channel, ref string, subs map[string]struct{}) {
	s.sendMeta(c, ch.name, ch.meta, ref, subs)
	for _, m := range ch.snapshot {
		if m != c {
			s.sendMeta(c, m.Nick(), m.metaSnapshot().values, ref, subs)
		}
	}
}

// sendMeta sends c METADATA lines for target's values of the keys in
// subs.
func (s *Server) sendMeta(c *Client, target string, values map[string]string, ref string, subs map[string]struct{}) {
	server := &irc.Prefix{Name: s.name()}
	for _, key := range slices.Sorted(maps.Keys(values)) {
		if _, ok := subs[key]; ok {
			m := &irc.Message{Prefix: server, Command: "METADATA", Params: []string{target, key, metaVisibleToAll, values[key]}}
			c.sendTagged(messageTags(nil, false, false, time.Time{}, "", nil, ref), m)
		}
	}
}

// metadataJoinBurst tells a joining c the metadata of ch and its members,
// and the members c's, each for the keys they subscribe to. joinBurst
// calls it with ch.mu held, so it is part of the join's critical section.
func (s *Server) metadataJoinBurst(c *Client, ch *Channel) {
	if c.caps.has(capMetadata) {
		s.sendChannelMeta(c, ch, "", c.metaSnapshot().subs)
	}
	own := c.metaSnapshot().values
	for _, key := range slices.Sorted(maps.Keys(own)) {
		o := &outMsg{base: &irc.Message{Prefix: &irc.Prefix{Name: s.name()}, Command: "METADATA",
			Params: []string{c.Nick(), key, metaVisibleToAll, own[key]}}}
		s.deliverTo(&c.pending, ch.snapshot, o, func(r *Client) bool { return r != c && r.subscribed(key) })
	}
}
