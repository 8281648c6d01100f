package metrics

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// CommandLabel returns the value to use for the command label of MessagesIn
// and MessagesOut: the upper-cased command if it is one securechat knows,
// "numeric" for a three-digit numeric reply, and "other" for anything else.
// Clients choose the command word, so passing it through unchecked would let
// them create unbounded series.
func CommandLabel(cmd string) string {
	if isNumeric(cmd) {
		return "numeric"
	}
	if knownCommand(cmd) {
		return cmd
	}
	// Commands are case-insensitive on the wire; the upper-casing is
	// only paid for by clients that send lower case.
	if up := strings.ToUpper(cmd); up != cmd && knownCommand(up) {
		return up
	}
	return "other"
}

func isNumeric(cmd string) bool {
	return len(cmd) == 3 &&
		'0' <= cmd[0] && cmd[0] <= '9' &&
		'0' <= cmd[1] && cmd[1] <= '9' &&
		'0' <= cmd[2] && cmd[2] <= '9'
}

// knownCommand reports whether cmd is an IRC command worth its own series: the
// ones securechat handles or sends, plus common ones clients send anyway.
// A switch rather than a map keeps it out of package state.
func knownCommand(cmd string) bool {
	switch cmd {
	case "PASS", "NICK", "USER", "CAP", "AUTHENTICATE", "QUIT", "PING", "PONG", "ERROR",
		"JOIN", "PART", "KICK", "INVITE", "TOPIC", "NAMES", "LIST", "MODE",
		"PRIVMSG", "NOTICE", "TAGMSG", "CHATHISTORY", "BATCH",
		"WHO", "WHOIS", "WHOWAS", "ISON", "USERHOST", "AWAY", "MOTD", "LUSERS",
		"VERSION", "TIME", "INFO", "ADMIN", "OPER", "KILL", "WALLOPS", "MONITOR",
		"SETNAME", "FAIL", "WARN", "NOTE":
		return true
	}
	return false
}

// commandCounters caches the children of a command-labelled counter vector.
// The vector's own lookup hashes the label and takes a read lock that every
// goroutine shares, a cost paid on every line relayed; the cache is read
// without locks. It stays bounded because it is keyed by CommandLabel.
type commandCounters struct {
	vec   *prometheus.CounterVec
	cache sync.Map // label → prometheus.Counter
}

func (c *commandCounters) get(cmd string) prometheus.Counter {
	label := CommandLabel(cmd)
	if ctr, ok := c.cache.Load(label); ok {
		return ctr.(prometheus.Counter)
	}
	ctr := c.vec.WithLabelValues(label)
	c.cache.Store(label, ctr)
	return ctr
}

// In returns the MessagesIn counter for command cmd.
func (m *Metrics) In(cmd string) prometheus.Counter { return m.in.get(cmd) }

// Out returns the MessagesOut counter for command cmd.
func (m *Metrics) Out(cmd string) prometheus.Counter { return m.out.get(cmd) }
