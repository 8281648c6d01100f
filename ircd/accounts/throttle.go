package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync/atomic"
	"time"

	"securechat/crypto"
	"securechat/ircd/wire"
)

// ThrottleOptions bound what password guessing can cost and achieve. Zero
// fields take the defaults below.
type ThrottleOptions struct {
	// FreeFailures is how many wrong passwords an account takes before
	// each further one locks it.
	FreeFailures int
	// Lockout is the first lock; each further failure doubles it, up to
	// MaxLockout.
	Lockout, MaxLockout time.Duration
	// MaxConcurrent bounds Argon2 runs at once across all accounts, so
	// password checks cannot take all memory and CPU.
	MaxConcurrent int
	// Wait is how long a check waits for a free Argon2 slot before it
	// gives up with ErrBusy.
	Wait time.Duration
}

func (o ThrottleOptions) withDefaults() ThrottleOptions {
	if o.FreeFailures <= 0 {
		o.FreeFailures = 5
	}
	if o.Lockout <= 0 {
		o.Lockout = 10 * time.Second
	}
	if o.MaxLockout <= 0 {
		o.MaxLockout = 15 * time.Minute
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 2
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
	return o
}

// gate bounds concurrent Argon2 runs and keys the cheap check of a
// recently verified password. Its secret lives only in memory, so the
// MACs it makes are worthless once the process exits.
type gate struct {
	opts   ThrottleOptions
	slots  chan struct{}
	secret [32]byte
	runs   atomic.Int64 // Argon2 runs so far, for tests
}

func newGate(o ThrottleOptions) *gate {
	o = o.withDefaults()
	g := &gate{opts: o, slots: make(chan struct{}, o.MaxConcurrent)}
	_, _ = rand.Read(g.secret[:]) // never fails (crypto/rand)
	return g
}

// run runs f (an Argon2 run) once a slot is free.
func (g *gate) run(ctx context.Context, f func() error) error {
	t := time.NewTimer(g.opts.Wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ErrBusy
	}
	defer func() { <-g.slots }()
	g.runs.Add(1)
	return f()
}

// mac is the cheap stand-in for a verified password.
func (g *gate) mac(pw []byte) []byte {
	m := hmac.New(sha256.New, g.secret[:])
	m.Write(pw)
	return m.Sum(nil)
}

// login is an account's login state: failures, lock, the MAC of the last
// password verified and whether a check is running. Registry.mu guards
// it.
type login struct {
	verified    []byte
	failures    int
	lockedUntil time.Time
	checking    bool
}

func (l *login) remember(mac []byte) { l.verified, l.failures, l.lockedUntil = mac, 0, time.Time{} }

// Verify checks pw against the account name and returns the account. A
// password equal to the last one verified is accepted by an HMAC compare;
// anything else costs an Argon2 run, one at a time per account and at most
// MaxConcurrent at once. After FreeFailures wrong passwords the account is
// locked for a doubling time: while locked, every attempt, right or not,
// is refused with ErrLocked without a password check, so guessing goes no
// faster than the lock allows (a cached password passing during a lock
// would tell a guesser that guess was right). A check already running for
// the account refuses others with ErrBusy, so parallel guesses gain
// nothing.
func (r *Registry) Verify(ctx context.Context, name string, pw []byte) (Account, error) {
	mac := r.gate.mac(pw)
	r.mu.Lock()
	e, err := r.admitLocked(name)
	if err == nil && e.verified != nil && hmac.Equal(e.verified, mac) {
		e.failures = 0
		a := e.acct.clone()
		r.mu.Unlock()
		return a, nil
	}
	var hash string
	if err == nil {
		e.checking, hash = true, e.acct.Hash
	}
	r.mu.Unlock()
	if err != nil {
		return Account{}, err
	}
	ok := false
	err = r.gate.run(ctx, func() error {
		ok = crypto.VerifyPassword(hash, pw)
		return nil
	})
	return r.finishCheck(e, mac, ok, err)
}

// admitLocked finds the account and refuses a check while it is locked
// or another check for it runs. r.mu is held.
func (r *Registry) admitLocked(name string) (*entry, error) {
	e, ok := r.byName[wire.Casefold(name)]
	switch {
	case !ok:
		return nil, ErrNoAccount
	case time.Now().Before(e.lockedUntil):
		return nil, ErrLocked
	case e.checking:
		return nil, ErrBusy
	}
	return e, nil
}

// finishCheck records the outcome of an Argon2 check of e.
func (r *Registry) finishCheck(e *entry, mac []byte, ok bool, err error) (Account, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.checking = false
	switch {
	case err != nil:
		return Account{}, err
	case ok:
		e.remember(mac)
		return e.acct.clone(), nil
	}
	e.failures++
	if over := e.failures - r.gate.opts.FreeFailures; over > 0 {
		e.lockedUntil = time.Now().Add(min(r.gate.opts.Lockout<<min(over-1, 20), r.gate.opts.MaxLockout))
	}
	return Account{}, ErrBadPassword
}
