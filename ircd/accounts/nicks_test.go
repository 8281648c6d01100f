package accounts

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"securechat/crypto"
	"securechat/ircd/history"
	"securechat/metrics"
	"securechat/store"
)

// TestGroupUngroup checks that an account owns the nicks grouped to it,
// that nobody else can take them, and that the name itself stays.
func TestGroupUngroup(t *testing.T) {
	t.Parallel()
	r := openRegistry(t, newHistory(t, newVault(t), store.NewMemory(store.Options{})), ThrottleOptions{})
	for _, name := range []string{"zebra", "yak"} {
		if _, err := r.Register(t.Context(), name, []byte("horse battery staple")); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name       string
		op         func(string, string) (Account, error)
		acct, nick string
		want       error
	}{
		{"group", r.Group, "zebra", "Stripes", nil},
		{"group taken", r.Group, "yak", "stripes", ErrNickOwned},
		{"group another's name", r.Group, "zebra", "YAK", ErrNickOwned},
		{"group no account", r.Group, "nobody", "free", ErrNoAccount},
		{"ungroup not grouped", r.Ungroup, "yak", "stripes", ErrNotGrouped},
		{"ungroup the name", r.Ungroup, "zebra", "Zebra", ErrAccountNick},
	}
	for _, s := range steps {
		if _, err := s.op(s.acct, s.nick); !errors.Is(err, s.want) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
	}
	if got := r.OwnerOf("STRIPES"); got != "zebra" {
		t.Fatalf("OwnerOf(STRIPES) = %q, want zebra", got)
	}
	if _, err := r.Register(t.Context(), "stripes", []byte("horse battery staple")); !errors.Is(err, ErrExists) {
		t.Fatalf("registering a grouped nick: %v, want ErrExists", err)
	}
	a, err := r.Ungroup("zebra", "stripes")
	if err != nil || len(a.Nicks) != 1 || r.OwnerOf("stripes") != "" {
		t.Fatalf("Ungroup = %+v, %v; OwnerOf(stripes) = %q", a, err, r.OwnerOf("stripes"))
	}
	for i := range MaxNicks - 1 {
		if _, err := r.Group("yak", fmt.Sprintf("yak%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Group("yak", "onemore"); !errors.Is(err, ErrTooMany) {
		t.Fatalf("grouping past MaxNicks: %v, want ErrTooMany", err)
	}
}

// BenchmarkOwnerOf measures the scan behind every NICK and connection
// with accounts on, for a registry of 1000 accounts with 3 nicks each,
// asking for a nick nobody owns (the whole scan).
func BenchmarkOwnerOf(b *testing.B) {
	v, err := crypto.NewKeyring([]byte("room password here"), cheapKDF, time.Now(), 24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	h := history.New(v, store.NewMemory(store.Options{}), history.Options{QueueSize: 4096, Metrics: metrics.New(prometheus.NewRegistry(), "test")})
	defer func() { _ = h.Close(context.Background()) }()
	r, err := Open(context.Background(), h, Options{KDF: cheapKDF})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		name := fmt.Sprintf("account%d", i)
		if _, err := r.Register(context.Background(), name, []byte("horse battery staple")); err != nil {
			b.Fatal(err)
		}
		for j := range 2 {
			if _, err := r.Group(name, fmt.Sprintf("%s_%d", name, j)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if r.OwnerOf("Nobody") != "" {
			b.Fatal("Nobody is owned")
		}
	}
}
