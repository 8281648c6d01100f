package history

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
