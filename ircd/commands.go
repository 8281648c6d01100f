package ircd

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

// ircError is a handler failure the client is told about as a numeric.
type ircError struct {
	numeric string
	params  []string
}

func (e ircError) Error() string { return e.numeric + " " + strings.Join(e.params, " ") }

// failError is a handler failure the client is told about as a FAIL reply.
type failError struct {
	code    string
	context []string
}

func (e failError) Error() string { return "FAIL " + e.code }

// command describes one IRC command: its handler and the checks dispatch
// runs before it.
type command struct {
	handler   func(c *Client, m *irc.Message) error
	minParams int
	preReg    bool // allowed before registration completes
	oper      bool // needs IRC operator status
	// blocks: the handler may wait (a store read, a login delay), so
	// what the reader queued so far is flushed before it runs.
	blocks bool
	// accounts: the command exists only when accounts are on.
	accounts bool
}

// commands is the dispatch table, keyed by upper-case command.
var commands map[string]command

func init() {
	commands = map[string]command{
		"CAP":          {handler: handleCap, minParams: 1, preReg: true},
		"AUTHENTICATE": {handler: handleAuthenticate, minParams: 1, preReg: true},
		"PASS":         {handler: handlePass, minParams: 1, preReg: true},
		"NICK":         {handler: handleNick, preReg: true},
		"USER":         {handler: handleUser, minParams: 4, preReg: true},
		"PING":         {handler: handlePing, minParams: 1, preReg: true},
		"PONG":         {handler: handlePong, preReg: true},
		"QUIT":         {handler: handleQuit, preReg: true},
		"JOIN":         {handler: handleJoin, minParams: 1},
		"PART":         {handler: handlePart, minParams: 1},
		"PRIVMSG":      {handler: handlePrivmsg, minParams: 2},
		"NOTICE":       {handler: handleNotice, minParams: 2},
		"TAGMSG":       {handler: handleTagmsg, minParams: 1},
		"TOPIC":        {handler: handleTopic, minParams: 1},
		"NAMES":        {handler: handleNames},
		"LIST":         {handler: handleList},
		"KICK":         {handler: handleKick, minParams: 2},
		"INVITE":       {handler: handleInvite}, // no parameters lists invites
		"MODE":         {handler: handleMode, minParams: 1},
		"WHO":          {handler: handleWho, minParams: 1},
		"WHOIS":        {handler: handleWhois, minParams: 1},
		"WHOWAS":       {handler: handleWhowas, minParams: 1},
		"AWAY":         {handler: handleAway},
		"MOTD":         {handler: handleMotd},
		"LUSERS":       {handler: handleLusers},
		"VERSION":      {handler: handleVersion},
		"TIME":         {handler: handleTime},
		"USERHOST":     {handler: handleUserhost, minParams: 1},
		"ISON":         {handler: handleIson, minParams: 1},
		"SETNAME":      {handler: handleSetname, minParams: 1},
		"OPER":         {handler: handleOper, minParams: 2, blocks: true},
		"KILL":         {handler: handleKill, minParams: 2, oper: true},
		"REHASH":       {handler: handleRehash, oper: true},
		"CHATHISTORY":  {handler: handleChathistory, minParams: 3, blocks: true},
		"CHANSERV":     {handler: serviceCommand(chanServNick), minParams: 1, accounts: true},
		"CS":           {handler: serviceCommand(chanServNick), minParams: 1, accounts: true},
		"MARKREAD":     {handler: handleMarkread, accounts: true}, // FAIL, not 461, without parameters
		"MONITOR":      {handler: handleMonitor, minParams: 1},
		"INFO":         {handler: handleInfo},
		"HELP":         {handler: handleHelp},
		"HELPOP":       {handler: handleHelp},
		"LINKS":        {handler: handleLinks},
		"WALLOPS":      {handler: handleWallops, minParams: 1, oper: true},
		"RENAME":       {handler: handleRename, minParams: 2, blocks: true},
		"METADATA":     {handler: handleMetadata, minParams: 2},
		"BATCH":        {handler: handleBatch, minParams: 1},
		"REDACT":       {handler: handleRedact, minParams: 2, blocks: true},
		"REGISTER":     {handler: handleRegister, minParams: 3, preReg: true, blocks: true, accounts: true},
		"VERIFY":       {handler: handleVerify, minParams: 2, preReg: true, accounts: true},
		"NICKSERV":     {handler: serviceCommand(nickServ), minParams: 1, blocks: true, accounts: true},
		"NS":           {handler: serviceCommand(nickServ), minParams: 1, blocks: true, accounts: true},
		"WEBPUSH":      {handler: handleWebpush, minParams: 1, accounts: true},
	}
}

// dispatch runs the shared checks, then the handler, and turns its error
// into the reply the client sees.
func (s *Server) dispatch(c *Client, m *irc.Message) {
	cmd, ok := commands[m.Command]
	ok = ok && (!cmd.accounts || s.accounts != nil)
	registered := c.isRegistered()
	switch {
	case !ok && !registered:
		c.numeric(irc.ERR_NOTREGISTERED, "You have not registered")
		return
	case !ok:
		c.withLabel(m, func() { c.numeric(irc.ERR_UNKNOWNCOMMAND, m.Command, "Unknown command") })
		return
	case !cmd.preReg && !registered:
		c.numeric(irc.ERR_NOTREGISTERED, "You have not registered")
		return
	}
	c.withLabel(m, func() { s.run(c, cmd, m) })
}

func (s *Server) run(c *Client, cmd command, m *irc.Message) {
	if len(m.Params) < cmd.minParams {
		c.numeric(irc.ERR_NEEDMOREPARAMS, m.Command, "Not enough parameters")
		return
	}
	if cmd.oper && !c.isOper() {
		c.numeric(irc.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
		return
	}
	if cmd.blocks {
		c.flushPending()
	}
	err := cmd.handler(c, m)
	var ie ircError
	var fe failError
	switch {
	case err == nil:
	case errors.As(err, &ie):
		c.numeric(ie.numeric, ie.params...)
	case errors.As(err, &fe):
		c.fail(m.Command, fe.code, fe.context...)
	default:
		c.log.Error("command failed", "command", m.Command, "err", err)
		c.fail(m.Command, "INTERNAL_ERROR", "Internal error")
	}
}

// labelCollector gathers the replies to one labeled command so they can be
// sent with the label: one line tagged, several in a batch, none as ACK.
type labelCollector struct {
	label string
	msgs  []taggedMsg
	ref   string // the open batch the replies stream in, once streaming
}

// taggedMsg is a reply with the tags it is sent with.
type taggedMsg struct {
	tags []wire.Tag
	m    *irc.Message
}

func (l *labelCollector) add(tags []wire.Tag, m *irc.Message) {
	l.msgs = append(l.msgs, taggedMsg{slices.Clone(tags), m})
}

// newBatchRef returns a batch reference unique within this server.
func (s *Server) newBatchRef() string { return strconv.FormatUint(s.batchSeq.Add(1), 36) }

// withLabel runs f; if m carries a label and the client negotiated
// labeled-response, the replies f produces are sent labeled.
func (c *Client) withLabel(m *irc.Message, f func()) {
	label := m.Tags["label"]
	if label == "" || !c.caps.has(capLabeledResponse) || len(label) > 64 || opensClientBatch(m) {
		f()
		return
	}
	col := &labelCollector{label: label}
	c.label = col
	f()
	c.label = nil
	c.flushLabeled(col)
}

// streamLabeled opens the labeled-response batch at once and sends what
// was collected, so the rest of the command's replies go out as they are
// made. JOIN needs it: its replies are queued in the critical section
// that makes the client a member, ahead of the channel's next message.
func (c *Client) streamLabeled() {
	col := c.label
	if col == nil || col.ref != "" {
		return
	}
	c.label = nil
	ref := c.srv.newBatchRef()
	c.sendTagged([]wire.Tag{{Key: "label", Value: col.label}},
		&irc.Message{Prefix: &irc.Prefix{Name: c.srv.name()}, Command: "BATCH", Params: []string{"+" + ref, "labeled-response"}})
	for _, r := range col.msgs {
		c.sendTagged(inBatch(r.tags, ref), r.m)
	}
	col.msgs, col.ref = nil, ref
	c.label = col
}

// inBatch tags a reply as part of batch ref, unless it belongs to a
// nested batch (chathistory), whose BATCH lines themselves carry ref.
func inBatch(tags []wire.Tag, ref string) []wire.Tag {
	if slices.ContainsFunc(tags, func(t wire.Tag) bool { return t.Key == "batch" }) {
		return tags
	}
	return append(tags, wire.Tag{Key: "batch", Value: ref, Plain: true})
}

func (c *Client) flushLabeled(col *labelCollector) {
	label := wire.Tag{Key: "label", Value: col.label}
	server := &irc.Prefix{Name: c.srv.name()}
	if col.ref != "" {
		c.send(&irc.Message{Prefix: server, Command: "BATCH", Params: []string{"-" + col.ref}})
		return
	}
	switch len(col.msgs) {
	case 0:
		c.sendTagged([]wire.Tag{label}, &irc.Message{Prefix: server, Command: "ACK"})
	case 1:
		r := col.msgs[0]
		c.sendTagged(append(r.tags, label), r.m)
	default:
		ref := c.srv.newBatchRef()
		c.sendTagged([]wire.Tag{label}, &irc.Message{Prefix: server, Command: "BATCH", Params: []string{"+" + ref, "labeled-response"}})
		for _, r := range col.msgs {
			c.sendTagged(inBatch(r.tags, ref), r.m)
		}
		c.send(&irc.Message{Prefix: server, Command: "BATCH", Params: []string{"-" + ref}})
	}
}
