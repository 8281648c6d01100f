package crypto

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// recordVersionPair marks a record sealed by SealPair: Open then uses the
// subkey derived for its target key, never the data key itself, so such a
// record can neither be opened nor forged as an ordinary one.
const recordVersionPair = 2

// pairInfo prefixes the HKDF info of every pair subkey, so the same data
// key never yields the same bytes for another purpose.
const pairInfo = "securechat pair record key v1\x00"

// pairCacheMax bounds the derived AEADs a key index keeps; when full it
// starts over, which costs one HKDF per conversation in use.
const pairCacheMax = 4096

// SealPair is Seal for a record of the private conversation between two
// accounts whose store key is targetKey (a keyed hash of the account
// pair). The record is sealed under a subkey derived by HKDF from the data
// key of t's epoch and targetKey, so each pair's records have keys of
// their own, while rotation and retention act on them exactly as on
// Seal's: the subkey lives and dies with its data key. Open opens it.
func (v *Vault) SealPair(targetKey, msgid string, t time.Time, plaintext []byte) ([]byte, error) {
	ix := v.index.Load()
	k := ix.forSeal(epochStart(t, v.epoch))
	aead, ok := ix.pairAEAD(k.id, targetKey)
	if !ok {
		return nil, fmt.Errorf("crypto: data key %d has no pair root", k.id)
	}
	return v.seal(recordVersionPair, k.id, aead, targetKey, msgid, t, plaintext), nil
}

// pairCache holds the AEADs of derived subkeys by data key id and target
// key; mu guards m. It belongs to one keyIndex, so a key set change
// (rotation, expiry) starts a new cache and the old one's subkeys of
// destroyed keys go with the old index.
type pairCache struct {
	mu sync.Mutex
	m  map[pairSlot]cipher.AEAD
}

type pairSlot struct {
	id     uint32
	target string
}

// pairAEAD returns the AEAD of the subkey of data key id for targetKey,
// deriving it on first use; false if the key set holds no such key.
func (ix *keyIndex) pairAEAD(id uint32, targetKey string) (cipher.AEAD, bool) {
	root := ix.pairRoots[id]
	if root == nil {
		return nil, false
	}
	c, slot := ix.pairs, pairSlot{id, targetKey}
	c.mu.Lock()
	aead, ok := c.m[slot]
	c.mu.Unlock()
	if ok {
		return aead, true
	}
	key, err := derivePairKey(root, targetKey) // outside the lock, like the key setup
	if err != nil {
		return nil, false
	}
	aead = newAEAD(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= pairCacheMax {
		clear(c.m)
	}
	c.m[slot] = aead
	return aead, true
}

// pairRoot is the HKDF pseudorandom key of a data key, extracted once when
// the key is unwrapped, from which each pair's subkey is expanded. It is
// nil only if HKDF refused the key, which it does not for 32 bytes.
func pairRoot(dataKey []byte) []byte {
	prk, err := hkdf.Extract(sha256.New, dataKey, []byte(pairInfo))
	if err != nil {
		return nil
	}
	return prk
}

// derivePairKey expands root into the subkey for targetKey. The target
// key is length-prefixed so no two inputs share an info string.
func derivePairKey(root []byte, targetKey string) ([]byte, error) {
	info := binary.BigEndian.AppendUint32([]byte(pairInfo), uint32(len(targetKey)))
	info = append(info, targetKey...)
	return hkdf.Expand(sha256.New, root, string(info), keyLen)
}
