package accounts

import "securechat/ircd/wire"

// Put takes in an account as another node of a cluster registered or
// changed it; that node stored it. Login state kept here stays, except
// the cache of the last verified password when the hash changed.
func (r *Registry) Put(a Account) {
	if a.Name == "" || !r.opts.ValidName(a.Name) {
		return
	}
	folded := wire.Casefold(a.Name)
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.byName[folded]
	if e == nil {
		e = &entry{key: r.store.BlobKey(Kind, folded)}
	} else {
		for _, n := range e.acct.Nicks {
			if f := wire.Casefold(n); r.byNick[f] == e {
				delete(r.byNick, f)
			}
		}
		if e.acct.Hash != a.Hash {
			e.verified = nil
		}
	}
	e.acct = a.clone()
	r.addLocked(e)
}
