package ircd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/irc.v4"

	"securechat/config"
	"securechat/ircd/history"
	"securechat/ircd/push"
	"securechat/ircd/wire"
	"securechat/metrics"
)

// Blob kinds of the Web Push state, sealed through history like accounts.
const (
	pushKind  = "push"  // one blob per account: its subscriptions
	vapidKind = "vapid" // one blob: the server's VAPID private key
)

// maxPushRegistrations caps the subscriptions of one account: a phone, a
// tablet and a few browsers. Past it, REGISTER fails with
// MAX_REGISTRATIONS, so one account cannot make the server push to an
// unbounded list of endpoints.
const maxPushRegistrations = 8

// maxMentionWords bounds the words of one channel message looked up as
// possible mentions, so a long line costs a bounded number of lookups.
const maxMentionWords = 64

// pushLoadTimeout bounds reading the push state at start.
const pushLoadTimeout = 30 * time.Second

// webpush is the server's draft/webpush state: the VAPID key, the sender
// and each account's subscriptions. mu guards accts; Sender.Push and
// History.Save take only their own short-held locks, so both may be
// called under it, which keeps the saved blobs in the order of changes.
type webpush struct {
	key    *push.VAPIDKey
	sender *push.Sender

	mu    sync.Mutex
	accts map[string]*pushAccount // by casefolded account name
}

// pushAccount is one account's push state.
type pushAccount struct {
	name string
	subs []push.Subscription
	// channels are the casefolded channels the account's last client was
	// in when it left: an account with no client connected is "in" them
	// for mentions.
	channels []string
}

// pushRecord is a pushAccount as sealed at rest: endpoints and keys as
// push.Subscription.MarshalBinary writes them, never in clear outside
// the sealed blob.
type pushRecord struct {
	Account  string   `json:"account"`
	Subs     [][]byte `json:"subs"`
	Channels []string `json:"channels,omitempty"`
}

// vapidRecord is the VAPID key as sealed at rest.
type vapidRecord struct {
	Key []byte `json:"key"`
}

// startPush loads (or makes, on first start) the VAPID key and the
// subscriptions and starts the sender. Only with accounts on: push
// subscriptions belong to accounts.
func (s *Server) startPush(cfg *config.Config, tuning func(*push.Config)) error {
	ctx, cancel := context.WithTimeout(context.Background(), pushLoadTimeout)
	defer cancel()
	key, err := s.loadVAPIDKey(ctx)
	if err != nil {
		return err
	}
	accts, err := s.loadPushAccounts(ctx)
	if err != nil {
		return err
	}
	pc := push.Config{Key: key, Subject: pushSubject(cfg), Done: s.pushDone}
	if tuning != nil {
		tuning(&pc)
	}
	sender, err := push.NewSender(pc)
	if err != nil {
		return fmt.Errorf("ircd: web push: %w", err)
	}
	s.push = &webpush{key: key, sender: sender, accts: accts}
	s.metrics.SetPushCounts(func() metrics.PushCounts {
		st := sender.Stats()
		return metrics.PushCounts{Sent: st.Sent, Gone: st.Gone, Failed: st.Failed, RateLimited: st.RateLimited, QueueFull: st.QueueFull}
	})
	return nil
}

// pushSubject is the VAPID subject: the configured one, or the server's
// name as an https URL.
func pushSubject(cfg *config.Config) string {
	if cfg.WebpushSubject != "" {
		return cfg.WebpushSubject
	}
	return "https://" + cfg.ServerName
}

// loadVAPIDKey reads the sealed VAPID key, or generates and saves one:
// a key that changed would break every subscription made with the old.
func (s *Server) loadVAPIDKey(ctx context.Context) (*push.VAPIDKey, error) {
	blobs, err := s.history.Load(ctx, vapidKind)
	if err != nil {
		return nil, err
	}
	slot := s.history.BlobKey(vapidKind, "server")
	if raw, ok := blobs[slot]; ok {
		var rec vapidRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, fmt.Errorf("ircd: stored VAPID key: %w", err)
		}
		return push.ParseVAPIDKey(rec.Key)
	}
	key, err := push.GenerateVAPIDKey()
	if err != nil {
		return nil, err
	}
	s.history.Save(vapidKind, slot, vapidRecord{Key: key.Marshal()})
	return key, nil
}

// loadPushAccounts reads every account's sealed subscriptions. A blob
// under another account's key, or a subscription that no longer passes
// the checks, is skipped.
func (s *Server) loadPushAccounts(ctx context.Context) (map[string]*pushAccount, error) {
	blobs, err := s.history.Load(ctx, pushKind)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*pushAccount, len(blobs))
	for slot, raw := range blobs {
		var rec pushRecord
		if json.Unmarshal(raw, &rec) != nil || rec.Account == "" ||
			s.history.BlobKey(pushKind, wire.Casefold(rec.Account)) != slot {
			continue
		}
		out[wire.Casefold(rec.Account)] = rec.account()
	}
	return out, nil
}

// account is the pushAccount rec describes; subscriptions that do not
// parse are left out.
func (rec *pushRecord) account() *pushAccount {
	a := &pushAccount{name: rec.Account, channels: rec.Channels}
	for _, b := range rec.Subs {
		var sub push.Subscription
		if sub.UnmarshalBinary(b) == nil {
			a.subs = append(a.subs, sub)
		}
	}
	return a
}

// adopt takes in an account's push state as another node of a cluster
// changed and stored it.
func (p *webpush) adopt(rec *pushRecord) {
	if rec.Account == "" {
		return
	}
	folded := wire.Casefold(rec.Account)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(rec.Subs) == 0 {
		delete(p.accts, folded)
		return
	}
	p.accts[folded] = rec.account()
}

// closePush stops the sender, waiting (up to ctx) for queued pushes, so
// that unsubscriptions they cause are saved before history closes.
func (s *Server) closePush(ctx context.Context) {
	if s.push != nil {
		_ = s.push.sender.Close(ctx)
	}
}

// vapidToken is the ISUPPORT VAPID token, "" when push is off.
func (s *Server) vapidToken() string {
	if s.push == nil {
		return ""
	}
	return "VAPID=" + s.push.key.Public()
}

// save seals a's state; p.mu is held.
func (p *webpush) save(s *Server, folded string, a *pushAccount) {
	slot := s.history.BlobKey(pushKind, folded)
	if len(a.subs) == 0 {
		delete(p.accts, folded)
		s.history.Save(pushKind, slot, nil)
		s.link.pushChanged(&pushRecord{Account: a.name})
		return
	}
	rec := pushRecord{Account: a.name, Channels: a.channels}
	for _, sub := range a.subs {
		b, _ := sub.MarshalBinary() // never fails
		rec.Subs = append(rec.Subs, b)
	}
	s.history.Save(pushKind, slot, rec)
	s.link.pushChanged(&rec)
}

// errTooManySubs is REGISTER past maxPushRegistrations.
var errTooManySubs = errors.New("too many push subscriptions")

// register adds sub to account, replacing one with the same endpoint.
func (p *webpush) register(s *Server, account string, sub push.Subscription) error {
	folded := wire.Casefold(account)
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.accts[folded]
	if a == nil {
		a = &pushAccount{name: account}
		p.accts[folded] = a
	}
	i := slices.IndexFunc(a.subs, func(old push.Subscription) bool { return old.Endpoint == sub.Endpoint })
	switch {
	case i >= 0:
		a.subs[i] = sub
	case len(a.subs) >= maxPushRegistrations:
		return errTooManySubs
	default:
		a.subs = append(a.subs, sub)
	}
	p.save(s, folded, a)
	return nil
}

// unregister removes endpoint from account; an unknown one is no error.
func (p *webpush) unregister(s *Server, account, endpoint string) {
	folded := wire.Casefold(account)
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.accts[folded]; a != nil && p.drop(a, endpoint) {
		p.save(s, folded, a)
	}
	p.sender.Forget(endpoint)
}

// drop removes endpoint from a's subscriptions; p.mu is held.
func (p *webpush) drop(a *pushAccount, endpoint string) bool {
	n := len(a.subs)
	a.subs = slices.DeleteFunc(a.subs, func(sub push.Subscription) bool { return sub.Endpoint == endpoint })
	return len(a.subs) != n
}

// pushDone runs on a send goroutine with each push's outcome. A push
// service that says the subscription is gone, or an endpoint on an
// internal address, ends the subscription wherever it is registered.
func (s *Server) pushDone(sub push.Subscription, err error) {
	switch {
	case errors.Is(err, push.ErrGone), errors.Is(err, push.ErrBlocked):
		p := s.push
		p.mu.Lock()
		for folded, a := range p.accts {
			if p.drop(a, sub.Endpoint) {
				p.save(s, folded, a)
			}
		}
		p.mu.Unlock()
		p.sender.Forget(sub.Endpoint)
		s.log.Info("push subscription dropped", "err", err) // the error never quotes the endpoint, a secret
	case err != nil:
		s.log.Debug("push failed", "err", err)
	}
}

// subsOf returns a copy of account's subscriptions.
func (p *webpush) subsOf(account string) []push.Subscription {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.accts[wire.Casefold(account)]; a != nil {
		return slices.Clone(a.subs)
	}
	return nil
}

// handleWebpush is draft/webpush's WEBPUSH REGISTER <endpoint> <keys> and
// WEBPUSH UNREGISTER <endpoint>. Subscriptions belong to accounts, so
// both need a login.
func handleWebpush(c *Client, m *irc.Message) error {
	sub := strings.ToUpper(m.Params[0])
	account := c.account()
	switch {
	case sub != "REGISTER" && sub != "UNREGISTER":
		if strings.ContainsAny(sub, " :") || sub == "" {
			sub = "*" // not echoed where it would break the reply's parameters
		}
		return failError{"INVALID_PARAMS", []string{sub, "Unknown subcommand: use REGISTER or UNREGISTER"}}
	case account == "":
		return failError{"ACCOUNT_REQUIRED", []string{sub, "Log in to an account to receive push notifications"}}
	case sub == "REGISTER" && len(m.Params) < 3, len(m.Params) < 2:
		return ircError{irc.ERR_NEEDMOREPARAMS, []string{"WEBPUSH", "Not enough parameters"}}
	case sub == "UNREGISTER":
		c.srv.push.unregister(c.srv, account, m.Params[1])
		c.reply("WEBPUSH", "UNREGISTER", m.Params[1])
		return nil
	}
	return webpushRegister(c, account, m.Params[1], m.Params[2])
}

func webpushRegister(c *Client, account, endpoint, keys string) error {
	sub, err := push.ParseSubscription(endpoint, keys)
	if err != nil {
		return failError{push.FailCode(err), []string{"REGISTER", strings.TrimPrefix(err.Error(), "push: ")}}
	}
	if err := c.srv.push.register(c.srv, account, sub); err != nil {
		return failError{"MAX_REGISTRATIONS", []string{"REGISTER", fmt.Sprintf("An account may have at most %d push subscriptions", maxPushRegistrations)}}
	}
	c.reply("WEBPUSH", "REGISTER", endpoint)
	return nil
}

// pushTo pushes o to account's subscriptions while the account is not
// reading: no client of it connected, or every one away. It never
// blocks: the sender queues or drops (and counts the drop).
func (s *Server) pushTo(account string, o *outMsg) {
	subs := s.push.subsOf(account)
	if len(subs) == 0 || !s.accountIdle(account) {
		return
	}
	v := 1 | 2 // server-time and message-tags: time and msgid
	if o.account != "" {
		v |= 8
	}
	var room [4]wire.Tag
	tags, m := o.render(room[:0], v)
	payload, err := push.Payload(tags, m)
	if err != nil {
		return
	}
	for _, sub := range subs {
		_ = s.push.sender.Push(sub, payload, push.UrgencyHigh)
	}
}

// accountIdle reports whether no client logged in to account is
// connected and not away.
func (s *Server) accountIdle(account string) bool {
	for _, c := range s.accountClients(account, nil) {
		if !c.isAway() {
			return false
		}
	}
	return true
}

// accountClients returns the registered clients logged in to account,
// but skip: the clients a read marker is synced to, and whose presence
// holds pushes back.
func (s *Server) accountClients(account string, skip *Client) []*Client {
	folded := wire.Casefold(account)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Client
	for _, c := range s.clients {
		if c != skip && wire.Casefold(c.account()) == folded {
			out = append(out, c)
		}
	}
	return out
}

// pushDirect pushes a private PRIVMSG, NOTICE or INVITE from c to the
// account to, unless c is logged in to the same account.
func (s *Server) pushDirect(c *Client, to string, o *outMsg) {
	if s.push == nil || to == "" || o.base.Command == "TAGMSG" || wire.Casefold(to) == wire.Casefold(c.account()) {
		return
	}
	s.pushTo(to, o)
}

// offlineSubscriber is the account owning nick when no client holds the
// nick and the account has push subscriptions: a PM or INVITE to the nick
// can then reach its owner by push. Otherwise it is "".
func (s *Server) offlineSubscriber(nick string) string {
	if s.push == nil {
		return ""
	}
	account := s.accounts.OwnerOf(nick)
	if account == "" || len(s.push.subsOf(account)) == 0 {
		return ""
	}
	return account
}

// messageOffline takes a private message to the nick of an offline
// subscriber (offlineSubscriber): it is stored as any private message,
// echoed, and pushed. Any other nick that is not connected is
// ERR_NOSUCHNICK.
func (s *Server) messageOffline(c *Client, o *outMsg, cmd string, params []string) error {
	nick := params[0]
	account := ""
	if cmd != "TAGMSG" {
		account = s.offlineSubscriber(nick)
	}
	if account == "" {
		return ircError{irc.ERR_NOSUCHNICK, []string{nick, "No such nick/channel"}}
	}
	o.base = &irc.Message{Prefix: c.prefix(), Command: cmd, Params: params}
	if s.config().StoreDirect {
		to := history.Party{Nick: wire.Casefold(nick), Account: wire.Casefold(account)}
		s.history.AppendDirect(directParty(c), to, entryOf(o))
	}
	c.echo(o)
	s.pushDirect(c, account, o)
	return nil
}

// inviteOffline invites the nick of an offline subscriber: the invite is
// recorded as for anyone (it lets that nick past +i) and pushed. Any
// other nick that is not connected is ERR_NOSUCHNICK.
func (s *Server) inviteOffline(c *Client, nick, channel string) error {
	account := s.offlineSubscriber(nick)
	if account == "" {
		return ircError{irc.ERR_NOSUCHNICK, []string{nick, "No such nick/channel"}}
	}
	ch, err := mayInvite(c, channel)
	if err != nil {
		return err
	}
	ch.mu.Lock()
	ch.invites[wire.Casefold(nick)] = struct{}{}
	ch.mu.Unlock()
	c.numeric(irc.RPL_INVITING, nick, ch.name)
	inv := &irc.Message{Prefix: c.prefix(), Command: "INVITE", Params: []string{nick, ch.name}}
	s.pushDirect(c, account, &outMsg{base: inv, at: time.Now(), account: c.account()})
	return nil
}

// pushMentions pushes a channel PRIVMSG or NOTICE from c to each account
// in ch whose nick the text names as a word. An account is in ch when a
// member client is logged in to it, or, with none connected, when ch is
// among the channels its last client left. Candidates come from the
// members and the subscriptions, not from the words, so a message in a
// channel where no one subscribed costs one pass over the members.
func (s *Server) pushMentions(c *Client, ch *Channel, o *outMsg, text string) {
	if s.push == nil || o.base.Command == "TAGMSG" {
		return
	}
	cands := s.push.mentionCandidates(ch, wire.Casefold(c.account()))
	if len(cands) == 0 {
		return
	}
	words := mentionWords(text)
	for _, m := range cands {
		if !slices.ContainsFunc(m.names, func(n string) bool { return slices.Contains(words, n) }) {
			continue
		}
		if m.member || len(s.accountClients(m.account, nil)) == 0 {
			s.pushTo(m.account, o)
		}
	}
}

// mentionCandidate is an account that a channel message may mention:
// the casefolded names that mention it, and whether a client logged in
// to it is a member (else it is in the channel only while offline).
type mentionCandidate struct {
	account string
	names   []string
	member  bool
}

// mentionCandidates lists the subscribed accounts in ch other than from
// (casefolded): those of member clients, with their nicks, and those
// whose last client left ch.
func (p *webpush) mentionCandidates(ch *Channel, from string) []mentionCandidate {
	p.mu.Lock()
	empty := len(p.accts) == 0
	p.mu.Unlock()
	if empty {
		return nil
	}
	var out []mentionCandidate
	members := ch.Members()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range members {
		account := m.account()
		if account == "" {
			continue
		}
		folded := wire.Casefold(account)
		a := p.accts[folded]
		if folded == from || a == nil {
			continue
		}
		i := slices.IndexFunc(out, func(c mentionCandidate) bool { return c.account == a.name })
		if i < 0 {
			out = append(out, mentionCandidate{account: a.name, names: []string{folded}, member: true})
			i = len(out) - 1
		}
		out[i].names = append(out[i].names, m.foldedNick())
	}
	for folded, a := range p.accts {
		if folded != from && slices.Contains(a.channels, ch.folded) &&
			!slices.ContainsFunc(out, func(c mentionCandidate) bool { return c.account == a.name }) {
			out = append(out, mentionCandidate{account: a.name, names: []string{folded}})
		}
	}
	return out
}

// mentionWords returns the casefolded words of text that could be nicks,
// at most maxMentionWords of them, so that "alice:" and "@alice," name
// alice.
func mentionWords(text string) []string {
	words := strings.FieldsFunc(text, func(r rune) bool { return !isNickRune(r) })
	words = words[:min(len(words), maxMentionWords)]
	for i, w := range words {
		words[i] = wire.Casefold(w)
	}
	return words
}

// isNickRune reports whether r may appear in a nick.
func isNickRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("[]\\`_^{|}-", r)
}

// rememberChannels keeps, for a subscribed account whose last client is
// leaving, the channels it was in, so mentions there still push.
func (s *Server) rememberChannels(c *Client) {
	account := c.account()
	if s.push == nil || account == "" || len(s.accountClients(account, c)) > 0 {
		return
	}
	var names []string
	for _, ch := range c.channelList() {
		names = append(names, ch.folded)
	}
	slices.Sort(names)
	folded := wire.Casefold(account)
	p := s.push
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.accts[folded]; a != nil && !slices.Equal(a.channels, names) {
		a.channels = names
		p.save(s, folded, a)
	}
}
