package accounts

import (
	"errors"
	"fmt"
	"testing"

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
