package ircd

import (
	"context"
	"errors"
	"testing"
	"time"

	"securechat/ircd/history"
	"securechat/store"
)

// TestMaintainKeepsKeyToolChanges runs passwd against the store of a live
// server: its maintenance must refuse to write its stale keyring back, so
// the new password keeps working and the old one stays dead.
func TestMaintainKeepsKeyToolChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.NewMemory(store.Options{})
	v, err := history.OpenVault(ctx, st, []byte(testPassword), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, withStore(st, v))
	if err := ts.srv.Maintain(ctx); err != nil {
		t.Fatalf("Maintain on an untouched keyring: %v", err)
	}
	if err := history.ChangePassword(ctx, st, []byte(testPassword), []byte("a new room password"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Maintain(ctx); !errors.Is(err, history.ErrKeyringChanged) {
		t.Fatalf("Maintain after passwd = %v, want history.ErrKeyringChanged", err)
	}
	if _, err := history.OpenVault(ctx, st, []byte("a new room password"), time.Hour); err != nil {
		t.Fatalf("new password no longer opens the keyring: %v", err)
	}
	if _, err := history.OpenVault(ctx, st, []byte(testPassword), time.Hour); err == nil {
		t.Fatal("old password opens the keyring again")
	}
}
