package ircd

import (
	"securechat/ircd/history"
	"securechat/ircd/wire"
)

// directParty is c as one side of a private message.
func directParty(c *Client) history.Party {
	return history.Party{Nick: c.foldedNick(), Account: wire.Casefold(c.account())}
}

// appendDirect keeps a private message from one client to another: in
// their accounts' conversation when both are logged in, else in their
// nicks'.
func (s *Server) appendDirect(from, to *Client, e *history.Entry) {
	if s.config().StoreDirect {
		s.history.AppendDirect(directParty(from), directParty(to), e)
	}
}

// nickAccount is the account nick stands for in private history: the
// one its holder is logged in to, if someone holds it (which is how a
// message to it would be stored), else the account that registered it;
// "" for none.
func (s *Server) nickAccount(nick string) string {
	if holder := s.lookupClient(nick); holder != nil {
		return holder.account()
	}
	if s.accounts != nil {
		return s.accounts.OwnerOf(nick)
	}
	return ""
}

// directKey is the store key of c's private conversation with nick: its
// accounts' when c is logged in and nick stands for an account, so a
// later holder of either nick reads none of it; else the nicks'.
func (s *Server) directKey(c *Client, nick string) string {
	if mine := c.account(); mine != "" {
		if theirs := s.nickAccount(nick); theirs != "" {
			return s.history.PairKey(wire.Casefold(mine), wire.Casefold(theirs))
		}
	}
	return s.history.DirectKey(c.foldedNick(), wire.Casefold(nick))
}

// directOwners are the TARGETS index owners of c's private
// conversations: its nick's and, when logged in, its account's, whose
// conversations stored before a restart are first attributed.
func (s *Server) directOwners(c *Client) []string {
	owners := []string{c.foldedNick()}
	if a := c.account(); a != "" {
		s.history.ClaimPairs(a, s.accounts.Names)
		owners = append(owners, history.AccountOwner(wire.Casefold(a)))
	}
	return owners
}
