package accounts

import (
	"context"
	"testing"

	"securechat/store"
)

// What one node registers and groups, another takes in with Put: logins
// and nick ownership work there as on the first.
func TestPutFromAnotherNode(t *testing.T) {
	ctx := context.Background()
	v, st := newVault(t), store.NewMemory(store.Options{})
	first := openRegistry(t, newHistory(t, v, st), ThrottleOptions{})
	other := openRegistry(t, newHistory(t, v, st), ThrottleOptions{})
	a, err := first.Register(ctx, "alice", []byte("long enough password"))
	if err != nil {
		t.Fatal(err)
	}
	other.Put(a)
	if _, err := other.Verify(ctx, "Alice", home, []byte("long enough password")); err != nil {
		t.Fatalf("login on the other node: %v", err)
	}
	a, err = first.Group("alice", "ali")
	if err != nil {
		t.Fatal(err)
	}
	other.Put(a)
	if got := other.OwnerOf("ALI"); got != "alice" {
		t.Fatalf("OwnerOf(ALI) = %q after the group", got)
	}
	a, err = first.Ungroup("alice", "ali")
	if err != nil {
		t.Fatal(err)
	}
	other.Put(a)
	if got := other.OwnerOf("ali"); got != "" {
		t.Fatalf("OwnerOf(ali) = %q after the ungroup", got)
	}
	other.Put(Account{}) // ignored
	if other.Len() != 1 {
		t.Fatalf("%d accounts", other.Len())
	}
}
