package history

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"securechat/crypto"
	"securechat/metrics"
	"securechat/store"
)

// openStoredVault opens the keyring stored in st, as a daemon (or another
// node) does at start.
func openStoredVault(t testing.TB, st store.State) *crypto.Vault {
	t.Helper()
	v, err := OpenVault(testContext(t, time.Minute), st, []byte(testPassword), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// saveTestKeyring stores v's keyring in st, as the daemon does at start.
func saveTestKeyring(t testing.TB, st store.State, v *crypto.Vault) {
	t.Helper()
	data, err := v.Keyring().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveKeyring(testContext(t, 5*time.Second), data); err != nil {
		t.Fatal(err)
	}
}

func storedKeyring(t testing.TB, st store.State) []byte {
	t.Helper()
	data, err := st.Keyring(testContext(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestOpenVaultCreatesThenReopens(t *testing.T) {
	t.Parallel()
	st := newMemory()
	ctx := testContext(t, time.Minute)
	created, err := OpenVault(ctx, st, []byte(testPassword), testEpoch)
	if err != nil {
		t.Fatalf("creating: %v", err)
	}
	stored := storedKeyring(t, st)
	reopened, err := OpenVault(ctx, st, []byte(testPassword), testEpoch)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	if !bytes.Equal(storedKeyring(t, st), stored) {
		t.Error("reopening with nothing to add rewrote the keyring")
	}
	if created.TargetKey("#chan") != reopened.TargetKey("#chan") {
		t.Fatal("the reopened vault names targets differently")
	}
	at := baseTime()
	rec := sealedRecord(t, created, created.TargetKey("#chan"), "m1", at, "PRIVMSG #chan :hi")
	if _, err := reopened.Open(reopened.TargetKey("#chan"), "m1", at, rec.Data); err != nil {
		t.Fatalf("the reopened vault cannot open what the created one sealed: %v", err)
	}
}

func TestOpenVaultWrongPasswordChangesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		password string
	}{
		{"wrong password", "incorrect horse"},
		{"empty password", ""},
		{"right password with a space", testPassword + " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newMemory()
			saveTestKeyring(t, st, newTestVault(t))
			before := storedKeyring(t, st)
			// A shorter epoch would make a successful open add keys.
			v, err := OpenVault(testContext(t, 5*time.Second), st, []byte(tt.password), time.Hour)
			if err == nil || v != nil {
				t.Fatalf("OpenVault = %v, %v; want an error", v, err)
			}
			if !bytes.Equal(storedKeyring(t, st), before) {
				t.Fatal("a failed OpenVault changed the stored keyring")
			}
		})
	}
}

// In a cluster (Options.Shared), a keyring another node saved under the
// same password (an epoch's key added, or rotate-key) is taken as this
// node's own: it opens records under the new key and keeps the keyring.
func TestMaintainAdoptsAKeyringRotatedElsewhere(t *testing.T) {
	t.Parallel()
	st := newMemory()
	saveTestKeyring(t, st, newTestVault(t))
	ctx := testContext(t, time.Minute)
	v := openStoredVault(t, st)
	h := New(v, st, Options{QueueSize: 16, Metrics: metrics.New(prometheus.NewRegistry(), "test"), Shared: true})
	t.Cleanup(func() { _ = h.Close(testContext(t, 5*time.Second)) })
	if err := RotateKey(ctx, st, []byte(testPassword), testEpoch); err != nil {
		t.Fatal(err)
	}
	theirs := storedKeyring(t, st)
	if err := h.Maintain(ctx, time.Now(), time.Hour); err != nil {
		t.Fatalf("Maintain after rotate-key: %v", err)
	}
	if !bytes.Equal(storedKeyring(t, st), theirs) {
		t.Fatal("Maintain rewrote the rotated keyring")
	}
	rotated := openStoredVault(t, st)
	now := time.Now()
	rec, err := rotated.Seal("t", "m", now, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Open("t", "m", now, rec); err != nil {
		t.Fatalf("the daemon cannot open a record under the rotated key: %v", err)
	}
}

func TestMaintainRefusesAKeyringChangedElsewhere(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(t *testing.T, st store.State) error
	}{
		{"password changed", func(t *testing.T, st store.State) error {
			return ChangePassword(testContext(t, time.Minute), st, []byte(testPassword), []byte("new password"), testEpoch)
		}},
		{"key rotated", func(t *testing.T, st store.State) error {
			return RotateKey(testContext(t, time.Minute), st, []byte(testPassword), testEpoch)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newMemory()
			saveTestKeyring(t, st, newTestVault(t))
			ctx := testContext(t, time.Minute)
			v, err := OpenVault(ctx, st, []byte(testPassword), testEpoch)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := newTestHistory(t, v, st)
			if err := h.Maintain(ctx, time.Now(), time.Hour); err != nil {
				t.Fatalf("Maintain before the change: %v", err)
			}
			if err := tt.change(t, st); err != nil {
				t.Fatal(err)
			}
			theirs := storedKeyring(t, st)
			if err := h.Maintain(ctx, time.Now().Add(3*testEpoch), time.Hour); !errors.Is(err, ErrKeyringChanged) {
				t.Fatalf("Maintain after the change = %v, want ErrKeyringChanged", err)
			}
			if !bytes.Equal(storedKeyring(t, st), theirs) {
				t.Fatal("Maintain overwrote the other party's keyring")
			}
		})
	}
}

// Nodes of a cluster starting together on an empty store end up with one
// keyring: the first one saved.
func TestOpenVaultTogetherAgreeOnOneKeyring(t *testing.T) {
	t.Parallel()
	st := newMemory()
	ctx := testContext(t, time.Minute)
	vaults := make([]*crypto.Vault, 4)
	errs := make(chan error, len(vaults))
	for i := range vaults {
		go func() {
			v, err := OpenVault(ctx, st, []byte(testPassword), testEpoch)
			vaults[i] = v
			errs <- err
		}()
	}
	for range vaults {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	rec, err := vaults[0].Seal("t", "m", now, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vaults[1:] {
		if _, err := v.Open("t", "m", now, rec); err != nil {
			t.Fatalf("vault %d cannot open what vault 0 sealed: %v", i+1, err)
		}
	}
}
