package ircd

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
		v, err := crypto.NewKeyring(password, crypto.DefaultKDFParams(), time.Now(), epoch)
		if err != nil {
			return nil, fmt.Errorf("creating keyring: %w", err)
		}
		return v, saveKeyring(ctx, st, v.Keyring())
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
// and retention — trimming expired history and destroying the keys of
// epochs wholly past the maximum age, so even old backups of the expired
// ciphertext cannot be opened with the current keyring.
func (s *Server) Maintain(ctx context.Context) error {
	s.maintainMu.Lock()
	defer s.maintainMu.Unlock()
	if err := s.keyringUnchanged(ctx); err != nil {
		return err
	}
	cfg := s.config()
	now := time.Now()
	changed := s.vault.EnsureEpochKeys(now)
	expired := false
	var errs []error
	if cfg.HistoryMaxAge > 0 {
		cutoff := now.Add(-cfg.HistoryMaxAge)
		if err := s.history.store.TrimBefore(ctx, cutoff); err != nil {
			errs = append(errs, fmt.Errorf("trimming history: %w", err))
		}
		expired = s.vault.ExpireBefore(cutoff) > 0
		s.forgetBefore(cutoff)
	}
	if changed || expired {
		err := saveKeyring(ctx, s.history.store, s.vault.Keyring())
		errs = append(errs, err)
		if expired && err == nil {
			s.resealChannels()
		}
	}
	return errors.Join(errs...)
}

// resealChannels stores every channel's settings again under the newest
// key. Settings are sealed once, when they change, so without this a
// topic set longer ago than the maximum age would be sealed under a key
// ExpireBefore just destroyed, and lost at the next restart. It runs only
// after the keyring is saved, so the key it seals with is persisted.
func (s *Server) resealChannels() {
	for _, ch := range s.channelSnapshot() {
		s.history.saveChannel(ch)
	}
}

// errKeyringChanged means someone else rewrote the stored keyring while
// this daemon ran; saving ours would undo their change.
var errKeyringChanged = errors.New("the stored keyring was changed by another process " +
	"(securechatd passwd or rotate-key while the daemon ran?): restart the daemon to use it; " +
	"until then no keys are added or destroyed")

// keyringUnchanged checks that the stored keyring is still the one this
// daemon holds, so Maintain never overwrites a password change or a key
// rotation made by the key tools while the daemon was running.
func (s *Server) keyringUnchanged(ctx context.Context) error {
	stored, err := s.history.store.Keyring(ctx)
	if err != nil {
		return fmt.Errorf("reading keyring: %w", err)
	}
	ours, err := s.vault.Keyring().Marshal()
	if err != nil {
		return fmt.Errorf("encoding keyring: %w", err)
	}
	if !bytes.Equal(stored, ours) {
		return errKeyringChanged
	}
	return nil
}

// forgetBefore drops expired entries from the channels' replay rings.
func (s *Server) forgetBefore(cutoff time.Time) {
	for _, ch := range s.channelSnapshot() {
		ch.mu.Lock()
		i := 0
		for i < len(ch.recent) && ch.recent[i].at.Before(cutoff) {
			i++
		}
		ch.recent = ch.recent[i:]
		ch.mu.Unlock()
	}
}

// maintenanceInterval is how often Maintain runs: often enough to create
// the next epoch's key well before it starts.
func maintenanceInterval(epoch time.Duration) time.Duration {
	return max(min(time.Minute, epoch/4), 50*time.Millisecond)
}
