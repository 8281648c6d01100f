package ircd

import (
	"strings"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

// service is a name the server answers for, such as ChanServ: it is not
// a client. A PRIVMSG to its nick, or the command of its name, runs it
// with the request's text, and it replies with NOTICEs from its nick.
// Services exist only with accounts on; their nicks are then reserved,
// and what is sent to them never enters history.
type service struct {
	nick, realname string // realname is what WHOIS shows
	run            func(c *Client, line string)
}

// services are keyed by casefolded nick; their command forms (CHANSERV,
// CS, NICKSERV, NS) are in the command table.
var services = map[string]service{
	"chanserv": {nick: chanServNick, realname: "Channel services", run: (*Client).chanServ},
	"nickserv": {nick: nickServ, realname: "Account services", run: (*Client).nickServ},
}

// serviceFor returns the service whose nick is nick, when services are on.
func (s *Server) serviceFor(nick string) (service, bool) {
	if s.accounts == nil {
		return service{}, false
	}
	sv, ok := services[wire.Casefold(nick)]
	return sv, ok
}

// isServiceNick reports whether nick is reserved for a service.
func (s *Server) isServiceNick(nick string) bool {
	_, ok := s.serviceFor(nick)
	return ok
}

// toService hands a message addressed to a service to it, and reports
// whether target was one. Only PRIVMSG runs the service: a NOTICE or
// TAGMSG is dropped, as a service answers no notice.
func (s *Server) toService(c *Client, cmd, target, text string) bool {
	sv, ok := s.serviceFor(target)
	if ok && cmd == "PRIVMSG" {
		sv.run(c, text)
	}
	return ok
}

// serviceCommand is the handler of a service's command form, such as
// "CHANSERV REGISTER #chan" or "CS :REGISTER #chan".
func serviceCommand(nick string) func(c *Client, m *irc.Message) error {
	return func(c *Client, m *irc.Message) error {
		if sv, ok := c.srv.serviceFor(nick); ok {
			sv.run(c, strings.Join(m.Params, " "))
		}
		return nil
	}
}

// servicePrefix is the source of a service's messages.
func (s *Server) servicePrefix(nick string) *irc.Prefix {
	return &irc.Prefix{Name: nick, User: nick, Host: s.name()}
}

// serviceNotice sends c a NOTICE from the service nick.
func (c *Client) serviceNotice(nick, text string) {
	c.send(&irc.Message{Prefix: c.srv.servicePrefix(nick), Command: "NOTICE", Params: []string{c.nickOrStar(), text}})
}
