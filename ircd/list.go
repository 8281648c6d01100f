package ircd

import (
	"strconv"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

// listFilter is a parsed LIST request: channel names, masks and the
// ELIST conditions ISUPPORT advertises (C, M, N, T, U). A channel is
// listed when it passes every condition given.
type listFilter struct {
	names           map[string]bool // exact casefolded names; nil: any
	masks, negMasks []string        // M and N
	users           bound           // U: <n and >n
	created, topic  bound           // C and T, in minutes of age
}

// bound is an open interval (above, below); zero values are no bound.
type bound struct {
	above, below       int
	hasAbove, hasBelow bool
}

func (b bound) admits(n int) bool {
	return (!b.hasAbove || n > b.above) && (!b.hasBelow || n < b.below)
}

// set records "<n" or ">n"; anything else is ignored.
func (b *bound) set(cond string) {
	if len(cond) < 2 {
		return
	}
	n, err := strconv.Atoi(cond[1:])
	if err != nil || n < 0 {
		return
	}
	switch cond[0] {
	case '<':
		b.below, b.hasBelow = n, true
	case '>':
		b.above, b.hasAbove = n, true
	}
}

// parseList reads LIST's parameters: each is a comma list of channel
// names and conditions.
func parseList(params []string) listFilter {
	var f listFilter
	for _, p := range params {
		for _, item := range splitList(p) {
			f.add(item)
		}
	}
	return f
}

func (f *listFilter) add(item string) {
	switch {
	case item[0] == '<' || item[0] == '>':
		f.users.set(item)
	case len(item) > 1 && (item[0] == 'C' || item[0] == 'c') && (item[1] == '<' || item[1] == '>'):
		f.created.set(item[1:])
	case len(item) > 1 && (item[0] == 'T' || item[0] == 't') && (item[1] == '<' || item[1] == '>'):
		f.topic.set(item[1:])
	case item[0] == '!':
		f.negMasks = append(f.negMasks, item[1:])
	case hasWildcard(item):
		f.masks = append(f.masks, item)
	default:
		if f.names == nil {
			f.names = make(map[string]bool)
		}
		f.names[wire.Casefold(item)] = true
	}
}

// listRow is what LIST shows of a channel, with what its conditions test.
type listRow struct {
	name, folded, topic string
	users               int
	created, topicAt    time.Time
}

func (f *listFilter) admits(r listRow, now time.Time) bool {
	if f.names != nil && !f.names[r.folded] || !f.users.admits(r.users) {
		return false
	}
	if !f.created.admits(minutesSince(r.created, now)) {
		return false
	}
	if (f.topic.hasAbove || f.topic.hasBelow) && (r.topic == "" || !f.topic.admits(minutesSince(r.topicAt, now))) {
		return false
	}
	for _, m := range f.negMasks {
		if matchMask(m, r.name) {
			return false
		}
	}
	for _, m := range f.masks {
		if !matchMask(m, r.name) {
			return false
		}
	}
	return true
}

func minutesSince(t, now time.Time) int { return int(now.Sub(t) / time.Minute) }

// handleList answers LIST with the channels that have members, c may
// see, and pass the filter.
func handleList(c *Client, m *irc.Message) error {
	f := parseList(m.Params)
	now := time.Now()
	c.numeric(irc.RPL_LISTSTART, "Channel", "Users  Name")
	for _, ch := range c.srv.channelSnapshot() {
		r := ch.listRow()
		if r.users == 0 || !f.admits(r, now) || !c.canSee(ch) {
			continue
		}
		c.numeric(irc.RPL_LIST, r.name, itoa(r.users), r.topic)
	}
	c.numeric(irc.RPL_LISTEND, "End of /LIST")
	return nil
}

func (ch *Channel) listRow() listRow {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return listRow{name: ch.name, folded: ch.folded, topic: ch.topic.text, users: len(ch.members),
		created: ch.created, topicAt: ch.topic.at}
}
