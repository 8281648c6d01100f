package accounts

import (
	"bytes"
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

// TestGroupedNicksSurviveRestartSealed groups a nick, reopens the store
// and finds it still owned; the stored bytes do not hold it in clear.
func TestGroupedNicksSurviveRestartSealed(t *testing.T) {
	t.Parallel()
	st := store.NewMemory(store.Options{})
	v := newVault(t)
	h := newHistory(t, v, st)
	r := openRegistry(t, h, ThrottleOptions{})
	if _, err := r.Register(t.Context(), "zebra", []byte("horse battery staple")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Group("zebra", "stripeynick"); err != nil {
		t.Fatal(err)
	}
	closeHistory(t, h)
	blobs, err := st.Blobs(t.Context(), Kind)
	if err != nil {
		t.Fatal(err)
	}
	for key, data := range blobs {
		if bytes.Contains(data, []byte("stripeynick")) || bytes.Contains([]byte(key), []byte("stripeynick")) {
			t.Fatal("the store holds a grouped nick in clear")
		}
	}
	r2 := openRegistry(t, newHistory(t, v, st), ThrottleOptions{})
	if got := r2.OwnerOf("StripeyNick"); got != "zebra" {
		t.Fatalf("after restart OwnerOf(StripeyNick) = %q, want zebra", got)
	}
}
