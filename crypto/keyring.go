package crypto

import (
	"crypto/cipher"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrWrongPassword is returned by Unlock when the password does not unwrap
// the keyring. Nothing is changed when it is returned.
var ErrWrongPassword = errors.New("crypto: wrong password for keyring")

// ErrKeyringInvalid is wrapped by every error about a malformed or corrupt
// keyring, as opposed to a wrong password.
var ErrKeyringInvalid = errors.New("crypto: invalid keyring")

const keyringVersion = 1

// Keyring is the persisted form of the keys. Every key in it is wrapped
// under a key derived from the room password, so it is safe to store beside
// the data (or anywhere else). It marshals to JSON.
type Keyring struct {
	Version int       `json:"version"`
	KDF     KDFParams `json:"kdf"`
	Salt    []byte    `json:"salt"`
	// NameKey is the wrapped key behind Vault.TargetKey.
	NameKey []byte `json:"name_key"`
	// NextID is the id the next data key gets; ids are never reused, so a
	// record sealed under a destroyed key can never meet a new key.
	NextID   uint32       `json:"next_id"`
	DataKeys []WrappedKey `json:"data_keys"`
}

// WrappedKey is one data key as stored: its id, the epoch [EpochStart,
// EpochEnd) it seals, and the key sealed under the key-encryption key. The
// end is stored rather than recomputed so that changing the configured epoch
// length never shortens the life of existing keys.
type WrappedKey struct {
	ID         uint32    `json:"id"`
	EpochStart time.Time `json:"epoch_start"`
	EpochEnd   time.Time `json:"epoch_end"`
	Wrapped    []byte    `json:"wrapped"`
}

// NewKeyring creates a keyring protected by password, with a fresh name key
// and data keys for the epoch containing now and the next one, and returns it
// unlocked. Persist v.Keyring() before sealing anything.
func NewKeyring(password []byte, p KDFParams, now time.Time, epoch time.Duration) (*Vault, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	if epoch <= 0 {
		return nil, fmt.Errorf("crypto: epoch %v must be positive", epoch)
	}
	salt := randomBytes(saltLen)
	kek := p.deriveKey(password, salt)
	nameKey := randomBytes(keyLen)
	ring := Keyring{
		Version: keyringVersion,
		KDF:     p,
		Salt:    salt,
		NameKey: wrapKey(kek, nameKey, nameKeyAAD()),
		NextID:  1,
	}
	v := newVault(ring, kek, nameKey, password, epoch, nil)
	v.EnsureEpochKeys(now)
	return v, nil
}

// ParseKeyring decodes and checks a keyring produced by Marshal. It does not
// need the password; Unlock does.
func ParseKeyring(data []byte) (*Keyring, error) {
	var k Keyring
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyringInvalid, err)
	}
	if err := k.validate(); err != nil {
		return nil, err
	}
	return &k, nil
}

// Marshal encodes the keyring as indented JSON, so an operator can see
// which key ids and epochs exist.
func (k *Keyring) Marshal() ([]byte, error) {
	data, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("crypto: marshal keyring: %w", err)
	}
	return data, nil
}

// Unlock derives the key-encryption key with one Argon2id run and unwraps
// every key. It returns ErrWrongPassword when the password is wrong (the
// AEAD on the name key fails) and an error wrapping ErrKeyringInvalid when
// the keyring is damaged.
func (k *Keyring) Unlock(password []byte, epoch time.Duration) (*Vault, error) {
	if err := k.validate(); err != nil {
		return nil, err
	}
	if epoch <= 0 {
		return nil, fmt.Errorf("crypto: epoch %v must be positive", epoch)
	}
	kek := k.KDF.deriveKey(password, k.Salt)
	nameKey, err := unwrapKey(kek, k.NameKey, nameKeyAAD())
	if err != nil {
		return nil, ErrWrongPassword
	}
	keys := make([]*dataKey, 0, len(k.DataKeys))
	for _, w := range k.DataKeys {
		dk, err := unwrapData(kek, w)
		if err != nil {
			return nil, err
		}
		keys = append(keys, dk)
	}
	return newVault(k.clone(), kek, nameKey, password, epoch, keys), nil
}

// unwrapData opens one stored data key.
func unwrapData(kek []byte, w WrappedKey) (*dataKey, error) {
	dk := &dataKey{id: w.ID, start: w.EpochStart.UnixNano(), end: w.EpochEnd.UnixNano()}
	key, err := unwrapKey(kek, w.Wrapped, dk.aad())
	if err != nil {
		return nil, fmt.Errorf("%w: data key %d: %w", ErrKeyringInvalid, w.ID, err)
	}
	dk.setKey(key)
	return dk, nil
}

// validate checks the structure a Vault relies on: known version, sane KDF
// parameters, at least one data key, and unique ids below NextID.
func (k *Keyring) validate() error {
	switch {
	case k.Version != keyringVersion:
		return fmt.Errorf("%w: version %d, want %d", ErrKeyringInvalid, k.Version, keyringVersion)
	case len(k.Salt) < saltLen || len(k.Salt) > maxSaltLen:
		return fmt.Errorf("%w: salt length %d", ErrKeyringInvalid, len(k.Salt))
	case len(k.NameKey) == 0:
		return fmt.Errorf("%w: no name key", ErrKeyringInvalid)
	case len(k.DataKeys) == 0:
		return fmt.Errorf("%w: no data keys", ErrKeyringInvalid)
	}
	if err := k.KDF.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyringInvalid, err)
	}
	seen := make(map[uint32]bool, len(k.DataKeys))
	for _, w := range k.DataKeys {
		if w.ID == 0 || w.ID >= k.NextID || seen[w.ID] || !w.EpochEnd.After(w.EpochStart) {
			return fmt.Errorf("%w: bad or duplicate data key id %d", ErrKeyringInvalid, w.ID)
		}
		seen[w.ID] = true
	}
	return nil
}

// clone returns a deep copy, so callers can never alias a Vault's state.
func (k *Keyring) clone() Keyring {
	c := *k
	c.Salt = slices.Clone(k.Salt)
	c.NameKey = slices.Clone(k.NameKey)
	c.DataKeys = make([]WrappedKey, len(k.DataKeys))
	for i, w := range k.DataKeys {
		w.Wrapped = slices.Clone(w.Wrapped)
		c.DataKeys[i] = w
	}
	return c
}

// nameKeyAAD and dataKey.aad bind each wrapped key to its purpose, id and
// epoch, so wrapped keys cannot be swapped or re-dated in the file.
func nameKeyAAD() []byte {
	return []byte("securechat keyring v1 name key")
}

func (k *dataKey) aad() []byte {
	aad := []byte("securechat keyring v1 data key")
	aad = binary.BigEndian.AppendUint32(aad, k.id)
	aad = binary.BigEndian.AppendUint64(aad, uint64(k.start))
	return binary.BigEndian.AppendUint64(aad, uint64(k.end))
}

// wrapKey seals key under kek as nonce | ciphertext.
func wrapKey(kek, key, aad []byte) []byte {
	aead := newAEAD(kek)
	nonce := randomBytes(aead.NonceSize())
	return aead.Seal(nonce, nonce, key, aad)
}

// unwrapKey reverses wrapKey and insists on a full-length key, so every key
// later handed to newAEAD is valid.
func unwrapKey(kek, wrapped, aad []byte) ([]byte, error) {
	aead := newAEAD(kek)
	if len(wrapped) < aead.NonceSize() {
		return nil, errors.New("wrapped key too short")
	}
	n := aead.NonceSize()
	key, err := aead.Open(nil, wrapped[:n], wrapped[n:], aad)
	if err != nil {
		return nil, err
	}
	if len(key) != keyLen {
		return nil, fmt.Errorf("unwrapped key has %d bytes", len(key))
	}
	return key, nil
}

// newAEAD returns XChaCha20-Poly1305 for a key this package made or checked;
// a wrong length is a programming error, hence the panic.
func newAEAD(key []byte) cipher.AEAD {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic("crypto: internal key of wrong length: " + err.Error())
	}
	return aead
}
