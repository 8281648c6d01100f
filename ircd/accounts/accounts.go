// Package accounts is the registry of personal accounts: who registered
// which name, with which password, and which nicks belong to it. Accounts
// are kept in memory and persisted as sealed blobs through ircd/history,
// keyed by a keyed hash of the casefolded name, so neither names nor
// password hashes reach the store in clear.
//
// Password checks run Argon2id, which is slow on purpose; Verify keeps
// that cost bounded (see throttle.go). The package knows nothing of IRC
// connections: the protocol code asks it and reports the answers.
package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"securechat/crypto"
	"securechat/ircd/wire"
)

// Kind is the blob kind accounts are stored under.
const Kind = "account"

// MinPasswordLen is the shortest personal password Register accepts.
const MinPasswordLen = 8

// Errors Register and Verify return; the protocol code maps each to its
// reply.
var (
	ErrExists      = errors.New("accounts: account already exists")
	ErrBadName     = errors.New("accounts: invalid account name")
	ErrWeak        = errors.New("accounts: password too short")
	ErrNoAccount   = errors.New("accounts: no such account")
	ErrBadPassword = errors.New("accounts: wrong password")
	ErrLocked      = errors.New("accounts: too many failed logins, try again later")
	ErrBusy        = errors.New("accounts: too many password checks at once, try again")
)

// Account is the persisted form of one account, sealed before it is
// stored.
type Account struct {
	// Name is the account name as registered; lookups casefold it.
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Hash is the Argon2id PHC string of the personal password.
	Hash string `json:"hash"`
	// Nicks are the nicks the account owns, as registered; the account
	// name is always the first.
	Nicks []string `json:"nicks"`
}

// Persister is where accounts are kept: *history.History, which seals
// each blob with its kind and key bound.
type Persister interface {
	BlobKey(kind, folded string) string
	Save(kind, key string, v any)
	Load(ctx context.Context, kind string) (map[string]json.RawMessage, error)
}

// Options tunes a Registry. The zero value is production's.
type Options struct {
	// KDF is the Argon2id cost of new password hashes; zero means
	// crypto.DefaultKDFParams. Tests use a cheap one.
	KDF crypto.KDFParams
	// ValidName reports whether a name may be an account name; nil
	// accepts any non-empty name. The server passes its nick rules.
	ValidName func(string) bool
	Throttle  ThrottleOptions
}

// Registry holds every account. It is safe for concurrent use; mu guards
// the map and each entry's fields, and is never held during an Argon2 run
// or a call out.
type Registry struct {
	store Persister
	opts  Options
	gate  *gate

	mu     sync.Mutex
	byName map[string]*entry // casefolded name -> account
	byNick map[string]*entry // casefolded owned nick (the name too) -> account
}

// entry is one account with its login state; Registry.mu guards it.
type entry struct {
	acct Account
	key  string // store key
	login
}

// Open loads every stored account through p. Accounts that do not open
// or sit under another name's key are skipped (history counts and logs
// what does not open).
func Open(ctx context.Context, p Persister, opts Options) (*Registry, error) {
	if opts.KDF == (crypto.KDFParams{}) {
		opts.KDF = crypto.DefaultKDFParams()
	}
	if opts.ValidName == nil {
		opts.ValidName = func(s string) bool { return s != "" }
	}
	r := &Registry{store: p, opts: opts, gate: newGate(opts.Throttle), byName: make(map[string]*entry), byNick: make(map[string]*entry)}
	blobs, err := p.Load(ctx, Kind)
	if err != nil {
		return nil, fmt.Errorf("loading accounts: %w", err)
	}
	for key, raw := range blobs {
		var a Account
		if json.Unmarshal(raw, &a) != nil || a.Name == "" || p.BlobKey(Kind, wire.Casefold(a.Name)) != key {
			continue
		}
		r.addLocked(&entry{acct: a, key: key})
	}
	return r, nil
}

// addLocked indexes e by its name and by every nick it owns. r.mu is
// held, or r is not yet shared.
func (r *Registry) addLocked(e *entry) {
	r.byName[wire.Casefold(e.acct.Name)] = e
	for _, n := range e.acct.Nicks {
		r.byNick[wire.Casefold(n)] = e
	}
	r.byNick[wire.Casefold(e.acct.Name)] = e
}

// Len returns how many accounts exist.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byName)
}

// Lookup returns the account named name (in any case).
func (r *Registry) Lookup(name string) (Account, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byName[wire.Casefold(name)]
	if !ok {
		return Account{}, false
	}
	return e.acct.clone(), true
}

// Register creates the account name with password pw and returns it. It
// runs Argon2 once, under the same bound on concurrent runs as Verify.
func (r *Registry) Register(ctx context.Context, name string, pw []byte) (Account, error) {
	switch {
	case !r.opts.ValidName(name):
		return Account{}, ErrBadName
	case len(pw) < MinPasswordLen:
		return Account{}, ErrWeak
	}
	folded := wire.Casefold(name)
	if r.OwnerOf(name) != "" { // an account, or a nick grouped to one
		return Account{}, ErrExists
	}
	var hash string
	err := r.gate.run(ctx, func() (err error) {
		hash, err = crypto.HashPasswordWith(pw, r.opts.KDF)
		return err
	})
	if err != nil {
		return Account{}, err
	}
	a := Account{Name: name, Created: time.Now().UTC().Truncate(time.Second), Hash: hash, Nicks: []string{name}}
	e := &entry{acct: a, key: r.store.BlobKey(Kind, folded)}
	e.verified = r.gate.mac(pw)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ownerLocked(folded) != nil {
		return Account{}, ErrExists // registered by someone else during the hash
	}
	r.addLocked(e)
	r.store.Save(Kind, e.key, a)
	return a.clone(), nil
}

// clone copies a, so callers never share the registry's slice.
func (a Account) clone() Account {
	a.Nicks = slices.Clone(a.Nicks)
	return a
}
