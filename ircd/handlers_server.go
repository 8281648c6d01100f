package ircd

import (
	"sort"
	"strings"

	"gopkg.in/irc.v4"
)

// Numerics of HELP, from modern.ircdocs.horse; gopkg.in/irc.v4 lacks them.
const (
	rplHelpStart    = "704"
	rplHelpTxt      = "705"
	rplEndOfHelp    = "706"
	errHelpNotFound = "524"
)

// infoLines is the text of INFO.
var infoLines = []string{
	"securechat: an IRC server whose history is sealed at rest.",
	"Messages, topics and private messages are stored encrypted with",
	"XChaCha20-Poly1305 under keys derived from the room password.",
	"Source, documentation and the issue tracker come with the server.",
}

// handleInfo answers INFO with 371 lines and 374.
func handleInfo(c *Client, m *irc.Message) error {
	s := c.srv
	if !s.isThisServer(m.Param(0)) {
		return ircError{irc.ERR_NOSUCHSERVER, []string{paramSafe(m.Param(0)), "No such server"}}
	}
	c.numeric(irc.RPL_INFO, "securechat "+s.version+" on "+s.name())
	for _, l := range infoLines {
		c.numeric(irc.RPL_INFO, l)
	}
	c.numeric(irc.RPL_ENDOFINFO, "End of INFO list")
	return nil
}

// handleLinks answers LINKS [[<server>] <mask>]: this server is the
// whole network, listed when it matches the mask.
func handleLinks(c *Client, m *irc.Message) error {
	s := c.srv
	mask := "*"
	if len(m.Params) > 0 {
		mask = m.Params[len(m.Params)-1]
	}
	if matchMask(mask, s.name()) {
		c.numeric(irc.RPL_LINKS, s.name(), s.name(), "0 securechat IRC server")
	}
	// Each node of a cluster shows as a server one hop away, named by
	// its node id under the server name.
	for _, id := range s.link.nodeIDs() {
		if name := id + "." + s.name(); matchMask(mask, name) {
			c.numeric(irc.RPL_LINKS, name, s.name(), "1 securechat node "+id)
		}
	}
	c.numeric(irc.RPL_ENDOFLINKS, paramSafe(mask), "End of /LINKS list")
	return nil
}

// helpText is the usage line of each command HELP describes in full;
// others in the command table get a line saying they exist.
var helpText = map[string]string{
	"AWAY":        "AWAY [:<message>] marks you away, or back without a message.",
	"CHATHISTORY": "CHATHISTORY <subcommand> <target> ... reads back stored history.",
	"HELP":        "HELP [<topic>] shows help on a command, or lists them.",
	"INFO":        "INFO shows what this server is.",
	"INVITE":      "INVITE <nick> <channel> lets a user past +i.",
	"JOIN":        "JOIN <channel>{,<channel>} [<key>{,<key>}] joins channels.",
	"KICK":        "KICK <channel>{,<channel>} <nick>{,<nick>} [:<reason>] removes users.",
	"LINKS":       "LINKS [<mask>] lists the servers of the network: this one.",
	"LIST":        "LIST [<channel>|<cond>{,...}] lists channels; conditions <n >n C<n C>n T<n T>n mask !mask.",
	"MODE":        "MODE <target> [<modes> [<args>]] shows or changes modes.",
	"NAMES":       "NAMES <channel>{,<channel>} lists channel members.",
	"NICK":        "NICK <nick> changes your nick.",
	"NOTICE":      "NOTICE <target>{,<target>} :<text> sends a notice.",
	"PART":        "PART <channel>{,<channel>} [:<reason>] leaves channels.",
	"PRIVMSG":     "PRIVMSG <target>{,<target>} :<text> sends a message.",
	"QUIT":        "QUIT [:<reason>] disconnects.",
	"TOPIC":       "TOPIC <channel> [:<topic>] shows or sets the topic.",
	"WALLOPS":     "WALLOPS :<text> (operators) tells every user with +w.",
	"WHO":         "WHO <mask> [%<fields>] lists users.",
	"WHOIS":       "WHOIS <nick> describes a user.",
}

// handleHelp answers HELP and HELPOP [<topic>]: 704, 705 lines and 706,
// or 524 for a topic it has no help on.
func handleHelp(c *Client, m *irc.Message) error {
	topic := strings.ToUpper(m.Param(0))
	if topic == "" {
		return sendHelp(c, "*", append([]string{"Commands (HELP <command> for more):"}, packWords(commandNames(), 300)...))
	}
	subject := paramSafe(m.Params[0])
	if text, ok := helpText[topic]; ok {
		return sendHelp(c, subject, []string{text})
	}
	if _, ok := commands[topic]; ok {
		return sendHelp(c, subject, []string{topic + " is a command; see the IRC specifications at modern.ircdocs.horse."})
	}
	return ircError{errHelpNotFound, []string{subject, "No help available on this topic"}}
}

func sendHelp(c *Client, subject string, lines []string) error {
	c.numeric(rplHelpStart, subject, lines[0])
	for _, l := range lines[1:] {
		c.numeric(rplHelpTxt, subject, l)
	}
	c.numeric(rplEndOfHelp, subject, "End of /HELP")
	return nil
}

// commandNames returns the command table's names, sorted.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
