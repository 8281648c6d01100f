package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"securechat/crypto"
	"securechat/store"
)

// OpenVault unlocks the keyring kept in st with the room password, or
// creates and stores one on first run. A wrong password is an error that
// leaves everything stored untouched.
func OpenVault(ctx context.Context, st store.State, password []byte, epoch time.Duration) (*crypto.Vault, error) {
	data, err := st.Keyring(ctx)
	if errors.Is(err, store.ErrNotFound) {
		v, cerr := createKeyring(ctx, st, password, epoch)
		if v != nil || cerr != nil {
			return v, cerr
		}
		// Another node of a cluster created one first: open that one.
		data, err = st.Keyring(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("reading keyring: %w", err)
	}
	ring, err := crypto.ParseKeyring(data)
	if err != nil {
		return nil, fmt.Errorf("reading keyring: %w", err)
	}
	v, err := ring.Unlock(password, epoch)
	if errors.Is(err, crypto.ErrWrongPassword) {
		return nil, errors.New("the room password does not open the stored keyring (wrong password?); nothing was changed")
	}
	if err != nil {
		return nil, fmt.Errorf("unlocking keyring: %w", err)
	}
	if v.EnsureEpochKeys(time.Now()) {
		return v, saveKeyring(ctx, st, v.Keyring())
	}
	return v, nil
}

// createKeyring makes and stores a new keyring, unless another process
// stored one first: then it returns nil and no error.
func createKeyring(ctx context.Context, st store.State, password []byte, epoch time.Duration) (*crypto.Vault, error) {
	v, err := crypto.NewKeyring(password, crypto.DefaultKDFParams(), time.Now(), epoch)
	if err != nil {
		return nil, fmt.Errorf("creating keyring: %w", err)
	}
	data, err := v.Keyring().Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding keyring: %w", err)
	}
	created, err := st.CreateKeyring(ctx, data)
	switch {
	case err != nil:
		return nil, fmt.Errorf("saving keyring: %w", err)
	case !created:
		return nil, nil
	}
	return v, nil
}

func saveKeyring(ctx context.Context, st store.State, ring *crypto.Keyring) error {
	data, err := ring.Marshal()
	if err != nil {
		return fmt.Errorf("encoding keyring: %w", err)
	}
	if err := st.SaveKeyring(ctx, data); err != nil {
		return fmt.Errorf("saving keyring: %w", err)
	}
	return nil
}

// ChangePassword re-wraps the stored keyring under a new room password;
// history stays readable and the old password stops working.
func ChangePassword(ctx context.Context, st store.State, oldPW, newPW []byte, epoch time.Duration) error {
	v, err := OpenVault(ctx, st, oldPW, epoch)
	if err != nil {
		return err
	}
	ring, err := v.ChangePassword(newPW, crypto.DefaultKDFParams())
	if err != nil {
		return fmt.Errorf("changing password: %w", err)
	}
	return saveKeyring(ctx, st, ring)
}

// RotateKey adds a fresh data key for new records; old records stay
// readable with the keys they were sealed with.
func RotateKey(ctx context.Context, st store.State, password []byte, epoch time.Duration) error {
	v, err := OpenVault(ctx, st, password, epoch)
	if err != nil {
		return err
	}
	ring, err := v.Rotate(time.Now())
	if err != nil {
		return fmt.Errorf("rotating key: %w", err)
	}
	return saveKeyring(ctx, st, ring)
}

// Maintain runs the periodic housekeeping: data keys for the coming epoch,
// and, with maxAge > 0, retention — trimming history older than maxAge and
// destroying the keys of epochs wholly past it, so even old backups of the
// expired ciphertext cannot be opened with the current keyring. Callers
// run one Maintain at a time.
func (h *History) Maintain(ctx context.Context, now time.Time, maxAge time.Duration) error {
	if err := h.keyringUnchanged(ctx); err != nil {
		return err
	}
	changed := h.vault.EnsureEpochKeys(now)
	expired := false
	var errs []error
	if maxAge > 0 {
		cutoff := now.Add(-maxAge)
		h.index.forgetBefore(cutoff)
		if err := h.store.TrimBefore(ctx, cutoff); err != nil {
			errs = append(errs, fmt.Errorf("trimming history: %w", err))
		}
		expired = h.vault.ExpireBefore(cutoff) > 0
	}
	if changed || expired {
		err := saveKeyring(ctx, h.store, h.vault.Keyring())
		errs = append(errs, err)
		if expired && err == nil {
			// Settings are sealed once, when they change: a topic set
			// longer ago than maxAge was sealed under a key just
			// destroyed. Seal them again under the newest, now saved.
			h.states.resealAll()
		}
	}
	return errors.Join(errs...)
}

// ErrKeyringChanged means someone else rewrote the stored keyring while
// this daemon ran; saving ours would undo their change.
var ErrKeyringChanged = errors.New("the stored keyring was changed by another process " +
	"(securechatd passwd or rotate-key while the daemon ran?): restart the daemon to use it; " +
	"until then no keys are added or destroyed")

// keyringUnchanged checks that the stored keyring is still the one this
// daemon holds, so Maintain never overwrites a password change or a key
// rotation made by the key tools while the daemon was running.
func (h *History) keyringUnchanged(ctx context.Context) error {
	stored, err := h.store.Keyring(ctx)
	if errors.Is(err, store.ErrNotFound) {
		// The store lost it (Redis came back empty): store ours again,
		// or the next node to start would make a keyring of its own.
		h.log.Warn("the store lost the keyring; saving it again")
		data, err := h.vault.Keyring().Marshal()
		if err == nil {
			_, err = h.store.CreateKeyring(ctx, data) // another node may have been first
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("reading keyring: %w", err)
	}
	ours, err := h.vault.Keyring().Marshal()
	if err != nil {
		return fmt.Errorf("encoding keyring: %w", err)
	}
	if bytes.Equal(stored, ours) {
		return nil
	}
	if !h.shared {
		return ErrKeyringChanged
	}
	// Another node of the cluster added or destroyed keys (or rotate-key
	// added one): same password, so take its keyring as ours. Nodes add
	// the next epoch's key a whole epoch early, so they all hold it
	// before anyone seals with it, even when two added one at once.
	k, err := crypto.ParseKeyring(stored)
	if err == nil && h.vault.Adopt(k) == nil {
		h.log.Info("adopted the keyring saved by another process")
		return nil
	}
	return ErrKeyringChanged
}
