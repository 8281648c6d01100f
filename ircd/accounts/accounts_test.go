package accounts

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"securechat/crypto"
	"securechat/ircd/history"
	"securechat/metrics"
	"securechat/store"
)

// home is the address the tests' clients log in from.
var home = netip.MustParseAddr("192.0.2.1")

// cheapKDF keeps tests fast; production parameters are tested in crypto.
var cheapKDF = crypto.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

func newVault(t *testing.T) *crypto.Vault {
	t.Helper()
	v, err := crypto.NewKeyring([]byte("room password here"), cheapKDF, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// newHistory starts a real History over st, closed when the test ends.
func newHistory(t *testing.T, v *crypto.Vault, st store.Store) *history.History {
	t.Helper()
	h := history.New(v, st, history.Options{QueueSize: 16, Metrics: metrics.New(prometheus.NewRegistry(), "test")})
	t.Cleanup(func() { closeHistory(t, h) })
	return h
}

func closeHistory(t *testing.T, h *history.History) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Errorf("closing history: %v", err)
	}
}

func openRegistry(t *testing.T, h *history.History, th ThrottleOptions) *Registry {
	t.Helper()
	r, err := Open(t.Context(), h, Options{KDF: cheapKDF, Throttle: th})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegister(t *testing.T) {
	t.Parallel()
	r := openRegistry(t, newHistory(t, newVault(t), store.NewMemory(store.Options{})), ThrottleOptions{})
	r.opts.ValidName = func(s string) bool { return s != "" && !bytes.ContainsAny([]byte(s), " #") }
	tests := []struct {
		name, account, pw string
		want              error
	}{
		{"ok", "Zebra", "horse battery", nil},
		{"taken in another case", "zEBRA", "horse battery", ErrExists},
		{"bad name", "#zebra", "horse battery", ErrBadName},
		{"empty name", "", "horse battery", ErrBadName},
		{"weak", "other", "short", ErrWeak},
	}
	for _, tt := range tests {
		a, err := r.Register(t.Context(), tt.account, []byte(tt.pw))
		if !errors.Is(err, tt.want) {
			t.Fatalf("%s: Register = %v, want %v", tt.name, err, tt.want)
		}
		if err == nil && (a.Name != tt.account || len(a.Nicks) != 1 || a.Nicks[0] != tt.account) {
			t.Fatalf("%s: Register = %+v", tt.name, a)
		}
	}
	if r.OwnerOf("ZEBRA") != "Zebra" || r.OwnerOf("other") != "" || r.Len() != 1 {
		t.Fatalf("OwnerOf(ZEBRA) = %q, OwnerOf(other) = %q, Len = %d", r.OwnerOf("ZEBRA"), r.OwnerOf("other"), r.Len())
	}
}

// TestVerifyCachesTheLastPassword checks that a client that logs in again
// and again with the right password pays Argon2 only once, and that a
// different password is always checked.
func TestVerifyCachesTheLastPassword(t *testing.T) {
	t.Parallel()
	st := store.NewMemory(store.Options{})
	v := newVault(t)
	h := newHistory(t, v, st)
	r := openRegistry(t, h, ThrottleOptions{FreeFailures: 100})
	if _, err := r.Register(t.Context(), "zebra", []byte("horse battery staple")); err != nil {
		t.Fatal(err)
	}
	base := r.gate.runs.Load()
	for range 5 {
		if a, err := r.Verify(t.Context(), "ZEBRA", home, []byte("horse battery staple")); err != nil || a.Name != "zebra" {
			t.Fatalf("Verify = %+v, %v", a, err)
		}
	}
	if n := r.gate.runs.Load() - base; n != 0 {
		t.Fatalf("%d Argon2 runs for the password just registered, want 0", n)
	}
	if _, err := r.Verify(t.Context(), "zebra", home, []byte("wrong password")); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := r.Verify(t.Context(), "nobody", home, []byte("horse battery staple")); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("unknown account: %v", err)
	}
	if n := r.gate.runs.Load() - base; n != 1 {
		t.Fatalf("%d Argon2 runs, want 1 (the wrong password)", n)
	}

	// After a restart the cache is gone: the first login pays, the next
	// ones do not.
	closeHistory(t, h)
	r2 := openRegistry(t, newHistory(t, v, st), ThrottleOptions{})
	for range 3 {
		if _, err := r2.Verify(t.Context(), "zebra", home, []byte("horse battery staple")); err != nil {
			t.Fatalf("Verify after restart: %v", err)
		}
	}
	if n := r2.gate.runs.Load(); n != 1 {
		t.Fatalf("%d Argon2 runs after restart, want 1", n)
	}
}

// TestVerifyLocksOut checks the brute-force throttle by behaviour: past
// the free failures, even the right password is refused, and no password
// check runs while the lock holds.
func TestVerifyLocksOut(t *testing.T) {
	t.Parallel()
	r := openRegistry(t, newHistory(t, newVault(t), store.NewMemory(store.Options{})),
		ThrottleOptions{FreeFailures: 2, Lockout: time.Hour})
	if _, err := r.Register(t.Context(), "zebra", []byte("horse battery staple")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := r.Verify(t.Context(), "zebra", home, []byte("guess")); !errors.Is(err, ErrBadPassword) {
			t.Fatalf("guess %d: %v, want ErrBadPassword", i, err)
		}
	}
	runs := r.gate.runs.Load()
	for _, pw := range []string{"guess", "horse battery staple"} {
		if _, err := r.Verify(t.Context(), "zebra", home, []byte(pw)); !errors.Is(err, ErrLocked) {
			t.Fatalf("Verify(%q) while locked = %v, want ErrLocked", pw, err)
		}
	}
	if n := r.gate.runs.Load() - runs; n != 0 {
		t.Fatalf("%d Argon2 runs while locked, want 0", n)
	}
}

// TestVerifyFreeFailuresReset checks that a successful login forgives
// earlier mistakes, so a person who mistypes now and then is never locked.
func TestVerifyFreeFailuresReset(t *testing.T) {
	t.Parallel()
	r := openRegistry(t, newHistory(t, newVault(t), store.NewMemory(store.Options{})),
		ThrottleOptions{FreeFailures: 2, Lockout: time.Hour})
	if _, err := r.Register(t.Context(), "zebra", []byte("horse battery staple")); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		for _, pw := range []string{"typo one", "typo two", "horse battery staple"} {
			_, err := r.Verify(t.Context(), "zebra", home, []byte(pw))
			if (pw == "horse battery staple") != (err == nil) {
				t.Fatalf("Verify(%q) = %v", pw, err)
			}
		}
	}
}

// TestVerifyBoundsConcurrentChecks holds every Argon2 slot and checks
// that a password check then waits and gives up with ErrBusy instead of
// running.
func TestVerifyBoundsConcurrentChecks(t *testing.T) {
	t.Parallel()
	r := openRegistry(t, newHistory(t, newVault(t), store.NewMemory(store.Options{})),
		ThrottleOptions{MaxConcurrent: 1, Wait: 50 * time.Millisecond})
	for _, name := range []string{"zebra", "yak"} {
		if _, err := r.Register(t.Context(), name, []byte("horse battery staple")); err != nil {
			t.Fatal(err)
		}
	}
	hold, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = r.gate.run(t.Context(), func() error { close(hold); <-release; return nil })
	})
	<-hold
	_, err := r.Verify(t.Context(), "zebra", home, []byte("another password"))
	close(release)
	wg.Wait()
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with every slot taken = %v, want ErrBusy", err)
	}
	if _, err := r.Verify(t.Context(), "zebra", home, []byte("another password")); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("Verify once a slot is free = %v, want ErrBadPassword", err)
	}
}

// TestAccountsSurviveRestartSealed registers an account and groups a
// nick to it, reopens the store, and finds both again; the stored bytes
// hold neither the name, the grouped nick nor the password hash.
func TestAccountsSurviveRestartSealed(t *testing.T) {
	t.Parallel()
	st := store.NewMemory(store.Options{})
	v := newVault(t)
	h := newHistory(t, v, st)
	r := openRegistry(t, h, ThrottleOptions{})
	if _, err := r.Register(t.Context(), "zebraaccount", []byte("horse battery staple")); err != nil {
		t.Fatal(err)
	}
	a, err := r.Group("zebraaccount", "stripeynick")
	if err != nil {
		t.Fatal(err)
	}
	closeHistory(t, h)
	blobs, err := st.Blobs(t.Context(), Kind)
	if err != nil || len(blobs) != 1 {
		t.Fatalf("stored blobs = %d, %v", len(blobs), err)
	}
	for key, data := range blobs {
		for _, secret := range []string{"zebraaccount", "stripeynick", "horse battery staple", a.Hash} {
			if bytes.Contains(data, []byte(secret)) || bytes.Contains([]byte(key), []byte(secret)) {
				t.Fatalf("the store holds %q in clear", secret)
			}
		}
	}
	r2 := openRegistry(t, newHistory(t, v, st), ThrottleOptions{})
	got, ok := r2.Lookup("ZebraAccount")
	if !ok || got.Name != "zebraaccount" || got.Hash != a.Hash || !got.Created.Equal(a.Created) {
		t.Fatalf("after restart Lookup = %+v, %v; want %+v", got, ok, a)
	}
	if owner := r2.OwnerOf("StripeyNick"); owner != "zebraaccount" {
		t.Fatalf("after restart OwnerOf(StripeyNick) = %q, want zebraaccount", owner)
	}
}

// BenchmarkVerify compares a login that pays Argon2id at the production
// cost with one the cache of the last verified password answers.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name   string
		cached bool
	}{{"argon2id", false}, {"cached", true}} {
		b.Run(tc.name, func(b *testing.B) {
			v, err := crypto.NewKeyring([]byte("room password here"), cheapKDF, time.Now(), 24*time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			h := history.New(v, store.NewMemory(store.Options{}), history.Options{QueueSize: 16, Metrics: metrics.New(prometheus.NewRegistry(), "test")})
			defer func() { _ = h.Close(context.Background()) }()
			r, err := Open(context.Background(), h, Options{Throttle: ThrottleOptions{FreeFailures: b.N + 1}})
			if err != nil {
				b.Fatal(err)
			}
			pw := []byte("horse battery staple")
			if _, err := r.Register(context.Background(), "zebra", pw); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if !tc.cached {
					r.mu.Lock()
					r.byName["zebra"].verified = nil // forget, so Argon2 runs
					r.mu.Unlock()
				}
				if _, err := r.Verify(context.Background(), "zebra", home, pw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
