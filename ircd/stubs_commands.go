package ircd

import "gopkg.in/irc.v4"

// TODO(commands engineer): replace these stubs with real implementations.

func handleMode(c *Client, m *irc.Message) error     { return nil }
func handleWho(c *Client, m *irc.Message) error      { return nil }
func handleWhois(c *Client, m *irc.Message) error    { return nil }
func handleWhowas(c *Client, m *irc.Message) error   { return nil }
func handleVersion(c *Client, m *irc.Message) error  { return nil }
func handleTime(c *Client, m *irc.Message) error     { return nil }
func handleUserhost(c *Client, m *irc.Message) error { return nil }
func handleIson(c *Client, m *irc.Message) error     { return nil }
func handleOper(c *Client, m *irc.Message) error     { return nil }
func handleKill(c *Client, m *irc.Message) error     { return nil }
func handleRehash(c *Client, m *irc.Message) error   { return nil }

func matchMask(mask, s string) bool          { return false }
func (ch *Channel) state() (chanState, bool) { return chanState{}, false }
func (ch *Channel) restore(st chanState)     {}

type whowasRing struct{}

func newWhowasRing(n int) *whowasRing              { return &whowasRing{} }
func (w *whowasRing) add(p *irc.Prefix, c *Client) {}
