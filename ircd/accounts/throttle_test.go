package accounts

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"securechat/store"
)

// withZebra opens a registry throttled by th, with the account zebra.
func withZebra(t *testing.T, th ThrottleOptions) *Registry {
	t.Helper()
	r := openRegistry(t, newHistory(t, newVault(t), store.NewMemory(store.Options{})), th)
	if _, err := r.Register(t.Context(), "zebra", []byte("horse battery staple")); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestVerifyLocksPerAddress checks that a guesser locks the account only
// for its own address: the owner, elsewhere, still logs in, and another
// address in the guesser's IPv6 /64 counts as the guesser's.
func TestVerifyLocksPerAddress(t *testing.T) {
	t.Parallel()
	r := withZebra(t, ThrottleOptions{FreeFailures: 2, AccountFailures: 100, Lockout: time.Hour})
	guesser := netip.MustParseAddr("2001:db8:1:2::1")
	for i := range 3 {
		if _, err := r.Verify(t.Context(), "zebra", guesser, []byte("guess")); !errors.Is(err, ErrBadPassword) {
			t.Fatalf("guess %d: %v, want ErrBadPassword", i, err)
		}
	}
	for _, from := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if _, err := r.Verify(t.Context(), "zebra", netip.MustParseAddr(from), []byte("horse battery staple")); !errors.Is(err, ErrLocked) {
			t.Fatalf("right password from %s, in the guesser's /64: %v, want ErrLocked", from, err)
		}
	}
	for _, from := range []string{"192.0.2.1", "2001:db8:1:3::1"} {
		if _, err := r.Verify(t.Context(), "zebra", netip.MustParseAddr(from), []byte("horse battery staple")); err != nil {
			t.Fatalf("right password from %s, elsewhere: %v", from, err)
		}
	}
}

// TestVerifyAccountWideBound checks the bound on guessing from many
// addresses: past AccountFailures in all, the account is locked for every
// address except one that has logged in to it before.
func TestVerifyAccountWideBound(t *testing.T) {
	t.Parallel()
	r := withZebra(t, ThrottleOptions{FreeFailures: 2, AccountFailures: 3, Lockout: time.Hour})
	if _, err := r.Verify(t.Context(), "zebra", home, []byte("horse battery staple")); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		from := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
		if _, err := r.Verify(t.Context(), "zebra", from, []byte("guess")); !errors.Is(err, ErrBadPassword) {
			t.Fatalf("guess from %s: %v, want ErrBadPassword", from, err)
		}
	}
	stranger := netip.MustParseAddr("203.0.113.7")
	if _, err := r.Verify(t.Context(), "zebra", stranger, []byte("horse battery staple")); !errors.Is(err, ErrLocked) {
		t.Fatalf("right password from a new address past the account-wide bound: %v, want ErrLocked", err)
	}
	if a, err := r.Verify(t.Context(), "zebra", home, []byte("horse battery staple")); err != nil || a.Name != "zebra" {
		t.Fatalf("the owner's address during the account-wide lock: %+v, %v", a, err)
	}
}
