package ircd

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gopkg.in/irc.v4"
)

// capability is one IRCv3 capability the server offers.
type capability uint32

const (
	capSASL capability = 1 << iota
	capServerTime
	capMessageTags
	capEchoMessage
	capBatch
	capLabeledResponse
	capMultiPrefix
	capUserhostInNames
	capAwayNotify
	capExtendedJoin
	capCapNotify
	capSetname
	capInviteNotify
	capStandardReplies
	capChathistory
	capAccountTag
	capExtendedMonitor
	capChannelRename
	capMetadata
	capMultiline
	capMessageRedaction
	capAccountNotify
	capAccountRegistration
	capReadMarker
	capWebpush
)

// accountCaps are offered only when accounts are on: without them no one
// is ever logged in, and a client should not wait for account news.
const accountCaps = capAccountTag | capAccountNotify | capAccountRegistration | capReadMarker | capWebpush

// accountRegistrationCapValue says REGISTER works before the connection
// completes (once PASS gave the room password). Account names are nicks:
// no custom-account-name, so an account's nick is its name.
const accountRegistrationCapValue = "before-connect"

// capNames lists the offered capabilities in the order CAP LS shows them.
var capNames = []struct {
	name string
	cap  capability
}{
	{"sasl", capSASL},
	{"server-time", capServerTime},
	{"message-tags", capMessageTags},
	{"echo-message", capEchoMessage},
	{"batch", capBatch},
	{"labeled-response", capLabeledResponse},
	{"multi-prefix", capMultiPrefix},
	{"userhost-in-names", capUserhostInNames},
	{"away-notify", capAwayNotify},
	{"extended-join", capExtendedJoin},
	{"cap-notify", capCapNotify},
	{"setname", capSetname},
	{"invite-notify", capInviteNotify},
	{"standard-replies", capStandardReplies},
	{"draft/chathistory", capChathistory},
	{"extended-monitor", capExtendedMonitor},
	{"draft/channel-rename", capChannelRename},
	{"draft/metadata-2", capMetadata},
	{"draft/multiline", capMultiline},
	{"draft/message-redaction", capMessageRedaction},
	{"account-tag", capAccountTag},
	{"account-notify", capAccountNotify},
	{"draft/account-registration", capAccountRegistration},
	{"draft/read-marker", capReadMarker},
	{"draft/webpush", capWebpush},
}

// lookupCap finds a capability by name among those offered: the account
// capabilities only when accounts are on.
func lookupCap(name string, accounts bool) (capability, bool) {
	for _, c := range capNames {
		if c.name == name && (accounts || c.cap&accountCaps == 0) {
			return c.cap, true
		}
	}
	return 0, false
}

// capSet is the set of capabilities a client has enabled. The reader
// goroutine writes it; fan-out on other goroutines reads it.
type capSet struct{ bits atomic.Uint32 }

func (s *capSet) has(c capability) bool { return capability(s.bits.Load())&c != 0 }
func (s *capSet) set(add, remove capability) {
	for {
		old := s.bits.Load()
		next := (old | uint32(add)) &^ uint32(remove)
		if s.bits.CompareAndSwap(old, next) {
			return
		}
	}
}

// capLS renders the CAP LS list; version 302 clients get values. sts is
// listed (with its value) when stsValue is not empty; it is never
// requestable, so it is not in capNames. The account capabilities are
// listed only when accounts are on.
func capLS(version int, stsValue string, accounts bool) string {
	names := make([]string, 0, len(capNames)+1)
	for _, c := range capNames {
		if !accounts && c.cap&accountCaps != 0 {
			continue
		}
		name := c.name
		if version >= 302 && c.cap == capSASL {
			name += "=PLAIN"
		}
		if version >= 302 && c.cap == capMetadata {
			name += "=" + metadataCapValue
		}
		if version >= 302 && c.cap == capMultiline {
			name += "=" + multilineCapValue
		}
		if version >= 302 && c.cap == capAccountRegistration {
			name += "=" + accountRegistrationCapValue
		}
		names = append(names, name)
	}
	// Capability values exist only for CAP LS 302 clients, and sts means
	// nothing without its value.
	if stsValue != "" && version >= 302 {
		names = append(names, "sts="+stsValue)
	}
	return strings.Join(names, " ")
}

// stsDuration is how long clients should remember to use TLS only.
const stsDuration = 30 * 24 * time.Hour

// stsValue is the IRCv3 Strict Transport Security policy for c: when a
// plaintext listener exists, plaintext clients are sent to the TLS port
// and TLS clients are told to stay on TLS. Without one there is nothing
// to upgrade from, and no policy is offered.
func (s *Server) stsValue(c *Client) string {
	if !s.stsOn() {
		return ""
	}
	if c.tls {
		return "duration=" + strconv.Itoa(int(stsDuration.Seconds()))
	}
	return "port=" + strconv.Itoa(int(s.tlsPort.Load()))
}

// stsOn reports whether the server has an STS policy: a TLS listener to
// send clients to and a plaintext one to upgrade from. The web listener
// sends HSTS under the same policy.
func (s *Server) stsOn() bool {
	return s.tlsPort.Load() != 0 && s.plainListening.Load()
}

func handleCap(c *Client, m *irc.Message) error {
	switch strings.ToUpper(m.Params[0]) {
	case "LS":
		return capListSupported(c, m)
	case "LIST":
		c.reply("CAP", c.nickOrStar(), "LIST", enabledCaps(c))
	case "REQ":
		capRequest(c, m)
	case "END":
		if c.reg.capNegotiating && !c.isRegistered() {
			c.reg.capNegotiating = false
			c.srv.tryRegister(c)
		}
	default:
		return ircError{irc.ERR_INVALIDCAPCMD, []string{m.Params[0], "Invalid CAP subcommand"}}
	}
	return nil
}

func capListSupported(c *Client, m *irc.Message) error {
	if !c.isRegistered() {
		c.reg.capNegotiating = true
	}
	if m.Param(1) == "302" {
		c.reg.capVersion = 302
		// CAP LS 302 implies cap-notify (IRCv3 capability negotiation).
		c.caps.set(capCapNotify, 0)
	}
	lines := capLSLines(capLS(c.reg.capVersion, c.srv.stsValue(c), c.srv.accounts != nil), c.reg.capVersion)
	for i, l := range lines {
		if i < len(lines)-1 {
			c.reply("CAP", c.nickOrStar(), "LS", "*", l)
		} else {
			c.reply("CAP", c.nickOrStar(), "LS", l)
		}
	}
	return nil
}

// capLSLineMax bounds the capability list on one CAP LS line, leaving
// room in 512 bytes for the prefix, a nick of NICKLEN and the "*".
const capLSLineMax = 400

// capLSLines splits list, between capabilities, into lines of at most
// capLSLineMax bytes. Only CAP LS 302 clients understand a reply in
// several lines (the "*" marks all but the last); older ones get one.
func capLSLines(list string, version int) []string {
	if version < 302 || len(list) <= capLSLineMax {
		return []string{list}
	}
	var lines []string
	for len(list) > capLSLineMax {
		cut := strings.LastIndexByte(list[:capLSLineMax+1], ' ')
		if cut <= 0 {
			break // one capability longer than a line: send it whole
		}
		lines = append(lines, list[:cut])
		list = list[cut+1:]
	}
	return append(lines, list)
}

func enabledCaps(c *Client) string {
	var names []string
	for _, e := range capNames {
		if c.caps.has(e.cap) {
			names = append(names, e.name)
		}
	}
	return strings.Join(names, " ")
}

// capRequest applies a CAP REQ atomically: every change is acknowledged or
// the whole request is refused.
func capRequest(c *Client, m *irc.Message) {
	if !c.isRegistered() {
		c.reg.capNegotiating = true
	}
	list := m.Param(1)
	var add, remove capability
	for _, tok := range strings.Fields(list) {
		name, off := strings.CutPrefix(tok, "-")
		cp, ok := lookupCap(name, c.srv.accounts != nil)
		if !ok || (off && cp == capCapNotify && c.reg.capVersion >= 302) {
			c.reply("CAP", c.nickOrStar(), "NAK", list)
			return
		}
		if off {
			remove |= cp
		} else {
			add |= cp
		}
	}
	c.caps.set(add, remove)
	c.reply("CAP", c.nickOrStar(), "ACK", list)
}
