package crypto

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrOpen is wrapped by every Open failure: a short, damaged or moved record,
// or one whose key is unknown or destroyed.
var ErrOpen = errors.New("crypto: cannot open record")

// ErrUnknownKey is wrapped, together with ErrOpen, when a record names a key
// id the Vault does not hold, typically because ExpireBefore destroyed it.
// Callers can use it to tell expired history from tampering.
var ErrUnknownKey = errors.New("crypto: unknown data key")

const (
	recordVersion = 1
	// headerLen covers version (1) | key id (4) | nonce (24).
	headerLen = 1 + 4 + chacha20poly1305.NonceSizeX
	// Overhead is how many bytes Seal adds to a plaintext.
	Overhead = headerLen + chacha20poly1305.Overhead
)

// Seal encrypts plaintext for the record (targetKey, msgid, t) under the
// data key of the epoch containing t (the newest one if Rotate added
// several), or the newest key if none covers t. The result is
// version | key id | nonce | XChaCha20-Poly1305 ciphertext, and only opens
// with the same targetKey, msgid and t.
func (v *Vault) Seal(targetKey, msgid string, t time.Time, plaintext []byte) ([]byte, error) {
	id, aead := v.sealKey(t)
	out := make([]byte, headerLen, len(plaintext)+Overhead)
	out[0] = recordVersion
	binary.BigEndian.PutUint32(out[1:5], id)
	nonce := out[5:headerLen]
	rand.Read(nonce) // 192-bit random nonces: collisions are not a concern
	return aead.Seal(out, nonce, plaintext, recordAAD(out[:5], targetKey, msgid, t)), nil
}

// Open decrypts a record made by Seal. Any failure, including malformed
// input, returns an error wrapping ErrOpen; it never panics.
func (v *Vault) Open(targetKey, msgid string, t time.Time, sealed []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: record of %d bytes is too short", ErrOpen, len(sealed))
	}
	if sealed[0] != recordVersion {
		return nil, fmt.Errorf("%w: record version %d", ErrOpen, sealed[0])
	}
	id := binary.BigEndian.Uint32(sealed[1:5])
	aead, ok := v.openKey(id)
	if !ok {
		return nil, fmt.Errorf("%w: %w %d", ErrOpen, ErrUnknownKey, id)
	}
	aad := recordAAD(sealed[:5], targetKey, msgid, t)
	plaintext, err := aead.Open(nil, sealed[5:headerLen], sealed[headerLen:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: key %d: %w", ErrOpen, id, err)
	}
	return plaintext, nil
}

// sealKey picks the data key for t and returns an AEAD built from a copy of
// it, so ExpireBefore can wipe the key while a Seal is still running.
func (v *Vault) sealKey(t time.Time) (uint32, cipher.AEAD) {
	start := epochStart(t, v.epoch)
	v.mu.RLock()
	defer v.mu.RUnlock()
	k := v.byEpoch[start]
	if k == nil {
		k = v.keys[len(v.keys)-1] // never empty: the keyring and ExpireBefore see to it
	}
	return k.id, newAEAD(k.key)
}

func (v *Vault) openKey(id uint32) (cipher.AEAD, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	k := v.byID[id]
	if k == nil {
		return nil, false
	}
	return newAEAD(k.key), true
}

// recordAAD binds a record to its header (version and key id), target,
// msgid and time. Strings are length-prefixed so no two different tuples
// encode alike.
func recordAAD(header []byte, targetKey, msgid string, t time.Time) []byte {
	aad := make([]byte, 0, len(header)+4+len(targetKey)+4+len(msgid)+8)
	aad = append(aad, header...)
	aad = binary.BigEndian.AppendUint32(aad, uint32(len(targetKey)))
	aad = append(aad, targetKey...)
	aad = binary.BigEndian.AppendUint32(aad, uint32(len(msgid)))
	aad = append(aad, msgid...)
	return binary.BigEndian.AppendUint64(aad, uint64(t.UnixNano()))
}
