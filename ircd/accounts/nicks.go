package accounts

import (
	"errors"
	"slices"

	"securechat/ircd/wire"
)

// MaxNicks is how many nicks one account may own, its name included.
const MaxNicks = 10

// Errors Group and Ungroup return.
var (
	ErrNickOwned   = errors.New("accounts: nick is registered to an account")
	ErrNotGrouped  = errors.New("accounts: nick is not grouped to this account")
	ErrAccountNick = errors.New("accounts: the account name itself cannot be ungrouped")
	ErrTooMany     = errors.New("accounts: the account owns too many nicks")
)

// OwnerOf returns the name of the account that owns nick, or "" if none
// does. An account owns its name and the nicks grouped to it.
func (r *Registry) OwnerOf(nick string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.ownerLocked(wire.Casefold(nick)); e != nil {
		return e.acct.Name
	}
	return ""
}

// ownerLocked is OwnerOf for a casefolded nick. r.mu is held.
func (r *Registry) ownerLocked(folded string) *entry { return r.byNick[folded] }

// Group adds nick to the nicks account owns and returns the account.
func (r *Registry) Group(account, nick string) (Account, error) {
	folded := wire.Casefold(nick)
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byName[wire.Casefold(account)]
	switch {
	case !ok:
		return Account{}, ErrNoAccount
	case !r.opts.ValidName(nick):
		return Account{}, ErrBadName
	case r.ownerLocked(folded) != nil:
		return Account{}, ErrNickOwned
	case len(e.acct.Nicks) >= MaxNicks:
		return Account{}, ErrTooMany
	}
	e.acct.Nicks = append(e.acct.Nicks, nick)
	r.byNick[folded] = e
	r.store.Save(Kind, e.key, e.acct)
	return e.acct.clone(), nil
}

// Ungroup removes nick from the nicks account owns and returns the
// account. The account's name stays its own.
func (r *Registry) Ungroup(account, nick string) (Account, error) {
	folded := wire.Casefold(nick)
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byName[wire.Casefold(account)]
	if !ok {
		return Account{}, ErrNoAccount
	}
	if folded == wire.Casefold(e.acct.Name) {
		return Account{}, ErrAccountNick
	}
	i := slices.IndexFunc(e.acct.Nicks, func(n string) bool { return wire.Casefold(n) == folded })
	if i < 0 {
		return Account{}, ErrNotGrouped
	}
	e.acct.Nicks = slices.Delete(slices.Clone(e.acct.Nicks), i, i+1)
	delete(r.byNick, folded)
	r.store.Save(Kind, e.key, e.acct)
	return e.acct.clone(), nil
}
