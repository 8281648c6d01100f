package ircd

import (
	"strconv"
	"sync/atomic"

	"gopkg.in/irc.v4"
)

func handleLusers(c *Client, _ *irc.Message) error {
	c.srv.sendLusers(c)
	return nil
}

// sendLusers sends the LUSERS numerics 251-255, 265 and 266. Every
// registration sends them, so the counts come from counters kept in step
// with user modes rather than a walk over every client.
func (s *Server) sendLusers(c *Client) {
	remote := s.link.remoteUsers()
	s.mu.RLock()
	users := len(s.clients)
	local := users - remote
	unknown := len(s.conns) - local
	// Channels kept while empty (for their topic, modes or history) count
	// as formed: they come back as they were.
	channels := len(s.channels)
	s.mu.RUnlock()
	opers, invisible := int(s.lusers.opers.Load()), int(s.lusers.invisible.Load())
	n := strconv.Itoa
	// In a cluster every node is a server of the network; this one links
	// to the others through Redis.
	nodes := s.link.nodes()
	c.numeric(irc.RPL_LUSERCLIENT, "There are "+n(users-invisible)+" users and "+n(invisible)+" invisible on "+n(nodes)+" servers")
	c.numeric(irc.RPL_LUSEROP, n(opers), "operator(s) online")
	c.numeric(irc.RPL_LUSERUNKNOWN, n(max(unknown, 0)), "unknown connection(s)")
	c.numeric(irc.RPL_LUSERCHANNELS, n(channels), "channels formed")
	c.numeric(irc.RPL_LUSERME, "I have "+n(local)+" clients and "+n(nodes-1)+" servers")
	c.numeric(rplLocalUsers, n(local), n(local), "Current local users "+n(local)+", max "+n(local))
	c.numeric(rplGlobalUsers, n(users), n(users), "Current global users "+n(users)+", max "+n(users))
}

// luserCounts are the LUSERS totals that depend on user modes.
type luserCounts struct{ opers, invisible atomic.Int64 }

// changeModesLocked runs change, which may flip c's oper or invisible flag,
// and keeps the server's LUSERS counts in step. c.mu must be held.
func (c *Client) changeModesLocked(change func()) {
	c.countModesLocked(-1)
	change()
	c.countModesLocked(+1)
}

// countModesLocked adds sign times c's flags to the LUSERS counts while c
// is listed. c.mu must be held.
func (c *Client) countModesLocked(sign int64) {
	if !c.listed {
		return
	}
	if c.oper {
		c.srv.lusers.opers.Add(sign)
	}
	if c.invisible {
		c.srv.lusers.invisible.Add(sign)
	}
}

// setListedLocked adds c to the LUSERS counts or takes it out. c.mu must
// be held.
func (c *Client) setListedLocked(on bool) {
	if c.listed == on {
		return
	}
	if on {
		c.listed = true
		c.countModesLocked(+1)
		return
	}
	c.countModesLocked(-1)
	c.listed = false
}
