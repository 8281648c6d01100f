package ircd

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/irc.v4"
)

// hiddenIP stands in for every client's address in WHOX replies: hosts
// are shown as the server sees them, but the field is never a real IP.
const hiddenIP = "255.255.255.255"

// whoxOrder is the order WHOX fields are sent in, whatever order the
// client asked for them.
const whoxOrder = "tcuihsnfdlaor"

// clientInfo is a consistent copy of the fields the info commands show,
// taken under the client's lock once.
type clientInfo struct {
	nick, user, host, realname, away string
	account                          string // "" when not logged in
	oper, invisible, bot             bool
}

func (c *Client) info() clientInfo {
	account := c.account() // outside c.mu: it may come to take locks of its own
	c.mu.Lock()
	defer c.mu.Unlock()
	return clientInfo{nick: c.nick, user: c.user, host: c.host, realname: c.realname,
		away: c.away, account: account, oper: c.oper, invisible: c.invisible, bot: c.bot}
}

// idleSeconds is the time since c last sent a message, or since it signed
// on if it never did.
func (c *Client) idleSeconds() int64 {
	last := c.signon
	if ns := c.lastMsg.Load(); ns != 0 {
		last = time.Unix(0, ns)
	}
	return int64(time.Since(last) / time.Second)
}

// clientSnapshot returns every registered client.
func (s *Server) clientSnapshot() []*Client { return snapshot(s, s.clients) }

// whoRow is one WHO result: a client as it was when listed, and the
// channel it is listed in with its privileges there ("*" and none outside
// a channel query).
type whoRow struct {
	target  *Client
	info    clientInfo
	channel string
	privs   uint8
}

// whoQuery is the parsed WHO request; whox is set when a second
// parameter starting with '%' asked for WHOX fields.
type whoQuery struct {
	mask, fields, token string
	whox                bool
}

func handleWho(c *Client, m *irc.Message) error {
	q := whoQuery{mask: m.Params[0]}
	if f, ok := strings.CutPrefix(m.Param(1), "%"); ok {
		q.fields, q.token, _ = strings.Cut(f, ",")
		q.whox = true
	}
	var rows []whoRow
	if strings.HasPrefix(q.mask, "#") {
		rows = c.srv.whoChannel(c, q.mask)
	} else {
		rows = c.srv.whoMask(c, q.mask)
	}
	// Sorted by nick, so the reply does not depend on map order.
	sort.Slice(rows, func(a, b int) bool { return rows[a].info.nick < rows[b].info.nick })
	for _, r := range rows {
		c.sendWhoRow(r, q)
	}
	c.numeric(irc.RPL_ENDOFWHO, paramSafe(q.mask), "End of WHO list")
	return nil
}

// whoChannel lists a channel's members: all of them to members and
// operators, the visible (-i) ones to others who may see the channel.
func (s *Server) whoChannel(c *Client, name string) []whoRow {
	ch := s.lookupChannel(name)
	if ch == nil || !c.canSee(ch) {
		return nil
	}
	_, member := ch.privs(c)
	all := member || c.isOper()
	ch.mu.Lock()
	rows := make([]whoRow, 0, len(ch.members))
	for m, p := range ch.members {
		rows = append(rows, whoRow{target: m, channel: ch.name, privs: p})
	}
	ch.mu.Unlock()
	out := rows[:0]
	for _, r := range rows {
		if r.info = r.target.info(); all || !r.info.invisible {
			out = append(out, r)
		}
	}
	return out
}

// whoMask lists the clients matching mask by nick, user, host, realname
// or whole hostmask. An exact nick is always answered, like WHOIS; a
// wildcard hides invisible clients who share no channel with the asker.
func (s *Server) whoMask(c *Client, mask string) []whoRow {
	if mask == "" || mask == "0" {
		mask = "*"
	}
	if !hasWildcard(mask) {
		if t := s.lookupClient(mask); t != nil {
			return []whoRow{{target: t, info: t.info(), channel: "*"}}
		}
	}
	shared := make(map[*Client]bool)
	for _, n := range c.neighbours() {
		shared[n] = true
	}
	seeAll := c.isOper()
	var out []whoRow
	for _, t := range s.clientSnapshot() {
		i := t.info()
		if i.invisible && !seeAll && t != c && !shared[t] {
			continue
		}
		if whoMatch(mask, i, t.hostmask()) {
			out = append(out, whoRow{target: t, info: i, channel: "*"})
		}
	}
	return out
}

func whoMatch(mask string, i clientInfo, hostmask string) bool {
	for _, s := range []string{i.nick, i.user, i.host, i.realname, hostmask} {
		if matchMask(mask, s) {
			return true
		}
	}
	return false
}

// whoFlags renders H (here) or G (gone), '*' for an operator, the
// channel prefixes in a channel query, then B for a bot (ISUPPORT BOT=B).
func (c *Client) whoFlags(i clientInfo, privs uint8) string {
	f := "H"
	if i.away != "" {
		f = "G"
	}
	if i.oper {
		f += "*"
	}
	f += prefixFor(privs, c.caps.has(capMultiPrefix))
	if i.bot {
		f += "B"
	}
	return f
}

// sendWhoRow sends 352 RPL_WHOREPLY, or 354 with the requested WHOX
// fields in the standard order.
func (c *Client) sendWhoRow(r whoRow, q whoQuery) {
	i := r.info
	flags := c.whoFlags(i, r.privs)
	server := c.srv.name()
	if !q.whox {
		c.numeric(irc.RPL_WHOREPLY, r.channel, i.user, i.host, server, i.nick, flags, "0 "+i.realname)
		return
	}
	token := q.token
	if token == "" {
		token = "0"
	}
	values := map[byte]string{
		't': token, 'c': r.channel, 'u': i.user, 'i': hiddenIP, 'h': i.host, 's': server,
		'n': i.nick, 'f': flags, 'd': "0", 'l': strconv.FormatInt(r.target.idleSeconds(), 10),
		'a': whoxAccount(i.account), 'o': "n/a", 'r': i.realname,
	}
	var params []string
	for _, f := range []byte(whoxOrder) {
		if strings.IndexByte(q.fields, f) >= 0 {
			params = append(params, values[f])
		}
	}
	c.numeric(rplWhoSpcRpl, params...)
}

// whoxAccount is the %a field: the account, or "0" for none, as WHOX
// defines it.
func whoxAccount(account string) string {
	if account == "" {
		return "0"
	}
	return account
}

// handleWhois answers WHOIS [<server>] <nick>: only the first nick of a
// list is looked up (TARGMAX WHOIS:1).
func handleWhois(c *Client, m *irc.Message) error {
	nick := ""
	if list := splitList(m.Params[len(m.Params)-1]); len(list) > 0 {
		nick = list[0]
	}
	if nick == "" {
		return ircError{irc.ERR_NONICKNAMEGIVEN, []string{"No nickname given"}}
	}
	t := c.srv.lookupClient(nick)
	if t == nil && c.srv.isServiceNick(nick) {
		c.sendServiceWhois(nick)
		return nil
	}
	if t == nil {
		c.numeric(irc.ERR_NOSUCHNICK, paramSafe(nick), "No such nick/channel")
		c.numeric(irc.RPL_ENDOFWHOIS, paramSafe(nick), "End of /WHOIS list")
		return nil
	}
	c.sendWhois(t)
	return nil
}

func (c *Client) sendWhois(t *Client) {
	i := t.info()
	c.numeric(irc.RPL_WHOISUSER, i.nick, i.user, i.host, "*", i.realname)
	c.sendWhoisChannels(t, i.nick)
	c.numeric(irc.RPL_WHOISSERVER, i.nick, c.srv.name(), c.srv.config().Network)
	if i.away != "" {
		c.numeric(irc.RPL_AWAY, i.nick, i.away)
	}
	if i.oper {
		c.numeric(irc.RPL_WHOISOPERATOR, i.nick, "is an IRC operator")
	}
	if i.bot {
		c.numeric(rplWhoisBot, i.nick, "is a bot on "+c.srv.config().Network)
	}
	if i.account != "" {
		c.numeric(rplWhoisAccount, i.nick, i.account, "is logged in as")
	}
	if t.tls {
		c.numeric(rplWhoisSecure, i.nick, "is using a secure connection")
	}
	c.numeric(irc.RPL_WHOISIDLE, i.nick, strconv.FormatInt(t.idleSeconds(), 10),
		strconv.FormatInt(t.signon.Unix(), 10), "seconds idle, signon time")
	c.numeric(irc.RPL_ENDOFWHOIS, i.nick, "End of /WHOIS list")
}

// sendWhoisChannels sends 319 lines listing t's channels that c may see,
// with t's prefix in each, packed under the line limit.
func (c *Client) sendWhoisChannels(t *Client, nick string) {
	var names []string
	for _, ch := range t.channelList() {
		if !c.canSee(ch) {
			continue
		}
		if p, in := ch.privs(t); in {
			names = append(names, prefixFor(p, c.caps.has(capMultiPrefix))+ch.name)
		}
	}
	sort.Strings(names)
	for _, line := range packWords(names, 400) {
		c.numeric(irc.RPL_WHOISCHANNELS, nick, line)
	}
}

// packWords joins words with spaces into lines of at most budget bytes.
func packWords(words []string, budget int) []string { return packList(words, " ", budget) }

// packList joins words with sep into lines of at most budget bytes.
func packList(words []string, sep string, budget int) []string {
	var lines []string
	var b strings.Builder
	for _, w := range words {
		if b.Len() > 0 && b.Len()+len(sep)+len(w) > budget {
			lines = append(lines, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(w)
	}
	if b.Len() > 0 {
		lines = append(lines, b.String())
	}
	return lines
}

// handleUserhost answers up to five nicks with nick[*]=[+-]user@host:
// '*' marks an operator, '-' an away client.
func handleUserhost(c *Client, m *irc.Message) error {
	var replies []string
	for _, nick := range m.Params[:min(len(m.Params), 5)] {
		t := c.srv.lookupClient(nick)
		if t == nil {
			continue
		}
		i := t.info()
		r := i.nick
		if i.oper {
			r += "*"
		}
		if i.away != "" {
			r += "=-"
		} else {
			r += "=+"
		}
		replies = append(replies, r+i.user+"@"+i.host)
	}
	c.numeric(irc.RPL_USERHOST, strings.Join(replies, " "))
	return nil
}

// handleIson answers with the nicks that are online, in their current
// case; nicks may come as separate parameters or space-separated.
func handleIson(c *Client, m *irc.Message) error {
	var online []string
	for _, p := range m.Params {
		for _, nick := range strings.Fields(p) {
			if t := c.srv.lookupClient(nick); t != nil {
				online = append(online, t.Nick())
			}
		}
	}
	c.numeric(irc.RPL_ISON, strings.Join(online, " "))
	return nil
}

// isThisServer reports whether a VERSION or TIME target names this
// server; there are no others to forward to.
func (s *Server) isThisServer(target string) bool {
	return target == "" || strings.EqualFold(target, s.name()) || matchMask(target, s.name())
}

func handleVersion(c *Client, m *irc.Message) error {
	s := c.srv
	if !s.isThisServer(m.Param(0)) {
		return ircError{irc.ERR_NOSUCHSERVER, []string{paramSafe(m.Param(0)), "No such server"}}
	}
	c.numeric(irc.RPL_VERSION, s.version, s.name(), "securechat IRC server")
	for _, line := range s.isupportLines() {
		params := append(append([]string(nil), line...), "are supported by this server")
		c.numeric(irc.RPL_ISUPPORT, params...)
	}
	return nil
}

func handleTime(c *Client, m *irc.Message) error {
	s := c.srv
	if !s.isThisServer(m.Param(0)) {
		return ircError{irc.ERR_NOSUCHSERVER, []string{paramSafe(m.Param(0)), "No such server"}}
	}
	c.numeric(irc.RPL_TIME, s.name(), time.Now().Format("Monday January 2 2006 -- 15:04:05 -07:00"))
	return nil
}
