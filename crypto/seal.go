package crypto

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
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
	k := v.index.Load().forSeal(epochStart(t, v.epoch))
	return v.seal(recordVersion, k.id, k.aead, targetKey, msgid, t, plaintext), nil
}

// seal builds a record of the given version under key id with aead.
func (v *Vault) seal(version byte, id uint32, aead cipher.AEAD, targetKey, msgid string, t time.Time, plaintext []byte) []byte {
	out := make([]byte, headerLen, len(plaintext)+Overhead)
	out[0] = version
	binary.BigEndian.PutUint32(out[1:5], id)
	nonce := out[5:headerLen]
	s := v.scratch.Get().(*scratch)
	// Random 192-bit nonces need no counter kept across goroutines, restarts
	// or copies of the keyring, and collisions are not a concern: even after
	// 2^48 records under one key the chance of any is about 2^-97.
	s.nonces.read(nonce)
	sealed := aead.Seal(out, nonce, plaintext, s.recordAAD(out[:5], targetKey, msgid, t))
	v.scratch.Put(s)
	return sealed
}

// Open decrypts a record made by Seal or SealPair. Any failure, including malformed
// input, returns an error wrapping ErrOpen; it never panics.
func (v *Vault) Open(targetKey, msgid string, t time.Time, sealed []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: record of %d bytes is too short", ErrOpen, len(sealed))
	}
	id := binary.BigEndian.Uint32(sealed[1:5])
	ix := v.index.Load()
	var aead cipher.AEAD
	var ok bool
	switch sealed[0] {
	case recordVersion:
		aead, ok = ix.byID[id]
	case recordVersionPair:
		aead, ok = ix.pairAEAD(id, targetKey)
	default:
		return nil, fmt.Errorf("%w: record version %d", ErrOpen, sealed[0])
	}
	if !ok {
		return nil, fmt.Errorf("%w: %w %d", ErrOpen, ErrUnknownKey, id)
	}
	s := v.scratch.Get().(*scratch)
	aad := s.recordAAD(sealed[:5], targetKey, msgid, t)
	plaintext, err := aead.Open(nil, sealed[5:headerLen], sealed[headerLen:], aad)
	v.scratch.Put(s)
	if err != nil {
		return nil, fmt.Errorf("%w: key %d: %w", ErrOpen, id, err)
	}
	return plaintext, nil
}

// appendRecordAAD appends the AAD that binds a record to its header
// (version and key id), target, msgid and time. Strings are length-prefixed
// so no two different tuples encode alike.
func appendRecordAAD(dst, header []byte, targetKey, msgid string, t time.Time) []byte {
	dst = slices.Grow(dst, len(header)+4+len(targetKey)+4+len(msgid)+8)
	dst = append(dst, header...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(targetKey)))
	dst = append(dst, targetKey...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msgid)))
	dst = append(dst, msgid...)
	return binary.BigEndian.AppendUint64(dst, uint64(t.UnixNano()))
}
