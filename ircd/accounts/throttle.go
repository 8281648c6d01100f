package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net/netip"
	"sync/atomic"
	"time"

	"securechat/crypto"
	"securechat/ircd/wire"
)

// ThrottleOptions bound what password guessing can cost and achieve. Zero
// fields take the defaults below.
type ThrottleOptions struct {
	// FreeFailures is how many wrong passwords from one address (an
	// IPv6 /64) an account takes before each further one locks the
	// account for that address.
	FreeFailures int
	// AccountFailures is how many wrong passwords from all addresses
	// together an account takes before each further one locks it for
	// every address except those that have logged in to it: guessing
	// from many addresses is bounded, and its owner still gets in.
	AccountFailures int
	// Lockout is the first lock; each further failure doubles it, up to
	// MaxLockout.
	Lockout, MaxLockout time.Duration
	// Forget is how long without a failure clears a count.
	Forget time.Duration
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
	if o.AccountFailures <= 0 {
		o.AccountFailures = 10 * o.FreeFailures
	}
	if o.Forget <= 0 {
		o.Forget = 24 * time.Hour
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

// login is an account's login state: the failures counted against it,
// the MAC of the last password verified and whether a check is running.
// Registry.mu guards it.
type login struct {
	verified []byte
	checking bool
	all      strikes                   // failures from every address
	from     map[netip.Addr]*addrLogin // by addrKey
}

// addrLogin is what an account remembers of one address: its failures,
// and whether it has logged in (then the account-wide lock spares it).
type addrLogin struct {
	strikes
	trusted bool
}

// maxAddrs bounds the addresses one account remembers. Past it, an
// address that is new, untrusted and not locked is counted only in the
// account-wide total, which bounds guessing on its own.
const maxAddrs = 256

// strikes counts failures and holds the lock they earned.
type strikes struct {
	failures    int
	last        time.Time // of the last failure
	lockedUntil time.Time
}

// fail counts a failure at now: past free failures, each one locks for
// a doubling time. A count quiet for o.Forget starts again.
func (s *strikes) fail(now time.Time, free int, o ThrottleOptions) {
	if now.Sub(s.last) > o.Forget {
		s.failures = 0
	}
	s.failures++
	s.last = now
	if over := s.failures - free; over > 0 {
		s.lockedUntil = now.Add(min(o.Lockout<<min(over-1, 20), o.MaxLockout))
	}
}

func (s *strikes) locked(now time.Time) bool { return now.Before(s.lockedUntil) }

// addrKey is the address failures are counted under: an IPv6 client
// easily holds a whole /64, so that is one address here.
func addrKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// addr returns what e remembers of the address key k, making a record
// when there is room; nil when there is none.
func (l *login) addr(k netip.Addr, now time.Time, o ThrottleOptions) *addrLogin {
	if a := l.from[k]; a != nil {
		return a
	}
	if l.from == nil {
		l.from = make(map[netip.Addr]*addrLogin)
	}
	if len(l.from) >= maxAddrs {
		for k, a := range l.from {
			if !a.trusted && !a.locked(now) && now.Sub(a.last) > o.Lockout {
				delete(l.from, k)
			}
		}
	}
	if len(l.from) >= maxAddrs {
		return nil
	}
	a := &addrLogin{}
	l.from[k] = a
	return a
}

// remember records a successful login from k with the password whose
// MAC is mac: that address's failures are forgiven and it is trusted.
func (l *login) remember(mac []byte, k netip.Addr, now time.Time, o ThrottleOptions) {
	l.verified = mac
	if a := l.addr(k, now, o); a != nil {
		a.strikes, a.trusted = strikes{}, true
	}
}

// Verify checks pw against the account name for a client at from and
// returns the account. A password equal to the last one verified is
// accepted by an HMAC compare; anything else costs an Argon2 run, one at
// a time per account and at most MaxConcurrent at once.
//
// Failures lock the account for a doubling time per address, after
// FreeFailures from that address, and for every untrusted address after
// AccountFailures from all of them; an address that has logged in to the
// account is trusted, so nobody can lock its owner out from where the
// owner usually logs in. While locked, every attempt, right or not, is
// refused with ErrLocked without a password check, so guessing goes no
// faster than the lock allows (a cached password passing during a lock
// would tell a guesser that guess was right). A check already running for
// the account refuses others with ErrBusy, so parallel guesses gain
// nothing.
func (r *Registry) Verify(ctx context.Context, name string, from netip.Addr, pw []byte) (Account, error) {
	mac, k := r.gate.mac(pw), addrKey(from)
	r.mu.Lock()
	e, err := r.admitLocked(name, k)
	if err == nil && e.verified != nil && hmac.Equal(e.verified, mac) {
		e.remember(mac, k, time.Now(), r.gate.opts)
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
	return r.finishCheck(e, k, mac, ok, err)
}

// admitLocked finds the account and refuses a check from address key k
// while the account is locked for k or another check for it runs. r.mu
// is held.
func (r *Registry) admitLocked(name string, k netip.Addr) (*entry, error) {
	e, ok := r.byName[wire.Casefold(name)]
	if !ok {
		return nil, ErrNoAccount
	}
	now := time.Now()
	a := e.from[k]
	switch {
	case a != nil && a.locked(now),
		e.all.locked(now) && (a == nil || !a.trusted):
		return nil, ErrLocked
	case e.checking:
		return nil, ErrBusy
	}
	return e, nil
}

// finishCheck records the outcome of an Argon2 check of e from address
// key k.
func (r *Registry) finishCheck(e *entry, k netip.Addr, mac []byte, ok bool, err error) (Account, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.checking = false
	now, o := time.Now(), r.gate.opts
	switch {
	case err != nil:
		return Account{}, err
	case ok:
		e.remember(mac, k, now, o)
		return e.acct.clone(), nil
	}
	e.all.fail(now, o.AccountFailures, o)
	if a := e.addr(k, now, o); a != nil {
		a.fail(now, o.FreeFailures, o)
	}
	return Account{}, ErrBadPassword
}
