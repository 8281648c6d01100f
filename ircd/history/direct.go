package history

import (
	"maps"
	"time"

	"securechat/ircd/wire"
)

// Party is one side of a private message: its casefolded nick and, if it
// is logged in to an account, the account's casefolded name.
type Party struct {
	Nick, Account string
}

// pairName is the history name of the private conversation between two
// casefolded account names: sorted, so either side finds it, and spaced,
// which no account name holds, so no two pairs share a name.
func pairName(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return "dm-account:" + a + " " + b
}

// PairKey returns the store key of the private conversation between two
// accounts, given their casefolded names. Its records are sealed with a
// subkey derived for that key (crypto's SealPair), so they belong to the
// two accounts whatever nicks they use; a session of any other account
// computes another key and reads none of them.
func (h *History) PairKey(a, b string) string { return h.Key(pairName(a, b)) }

// AccountOwner is what Targets takes as the owner of a casefolded
// account's conversations with other accounts, which are listed under no
// nick. A space cannot appear in a nick or channel name, so it never
// meets one.
func AccountOwner(folded string) string { return "account " + folded }

// appendPair seals e into the conversation of from's and to's accounts
// and indexes it under both accounts, naming each side's peer by the
// nick it used.
func (h *History) appendPair(from, to Party, e *Entry) {
	key := h.PairKey(from.Account, to.Account)
	h.append(key, e, true)
	if e.Msg.Prefix != nil {
		h.index.note(AccountOwner(from.Account), key, e.Msg.Param(0), e.At)
		h.index.note(AccountOwner(to.Account), key, e.Msg.Prefix.Name, e.At)
	}
}

// pairClaims are the stored conversations the start-up scan opened but
// could not attribute: a pair's records name nicks, and only the
// accounts behind its key say whose it is. ClaimPairs attributes them
// when an account asks. targetIndex.mu guards it.
type pairClaims struct {
	keys   map[string]time.Time // store key -> newest message
	done   map[string]bool      // casefolded accounts whose pairs were sought
	warmed bool                 // the scan is over: done may be trusted
}

func newPairClaims() pairClaims {
	return pairClaims{keys: make(map[string]time.Time), done: make(map[string]bool)}
}

func (p *pairClaims) forgetBefore(cutoff time.Time) {
	maps.DeleteFunc(p.keys, func(_ string, latest time.Time) bool { return latest.Before(cutoff) })
}

func (x *targetIndex) unclaimed(key string, latest time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.pairs.keys[key] = latest.Truncate(time.Millisecond)
}

func (x *targetIndex) warmed() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.pairs.warmed = true
}

// startClaim reports whether account's pairs are worth seeking: some
// conversation is unattributed and account has not sought them since
// the scan ended.
func (x *targetIndex) startClaim(account string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.pairs.keys) == 0 || x.pairs.done[account] {
		return false
	}
	if x.pairs.warmed {
		x.pairs.done[account] = true
	}
	return true
}

// claim removes key from the unattributed conversations, returning its
// newest message time, if it was one.
func (x *targetIndex) claim(key string) (time.Time, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	latest, ok := x.pairs.keys[key]
	delete(x.pairs.keys, key)
	return latest, ok
}

// ClaimPairs indexes, for TARGETS, the stored conversations between
// account and each of the accounts others lists (names as registered)
// that the start-up scan found but could not attribute. Each side names the other by its
// account name, which CHATHISTORY resolves to the account. It costs an
// HMAC per other account, once per account and process.
func (h *History) ClaimPairs(account string, others func() []string) {
	folded := wire.Casefold(account)
	if !h.index.startClaim(folded) {
		return
	}
	for _, other := range others() {
		of := wire.Casefold(other)
		key := h.PairKey(folded, of)
		if latest, ok := h.index.claim(key); ok {
			h.index.note(AccountOwner(folded), key, other, latest)
			h.index.note(AccountOwner(of), key, account, latest)
		}
	}
}
