package crypto

import (
	"bytes"
	"cmp"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Vault holds a keyring's unwrapped keys in memory and seals and opens
// records with them. It is safe for concurrent use by many goroutines: mu
// guards the key set, the persisted keyring, the key-encryption key and the
// password MAC; index is republished under mu and read without it; the other
// fields are fixed when the Vault is made.
type Vault struct {
	epoch   time.Duration
	now     func() time.Time // wall clock for ExpireBefore's guard; tests replace it
	nameKey []byte
	pwKey   []byte // random per process, so pwMAC is useless outside it

	// index is all Seal and Open read of the key set. Readers take no lock
	// because under load a shared reader count's cache line bounced between
	// cores on every call.
	index   atomic.Pointer[keyIndex]
	scratch sync.Pool // of *scratch, so Seal and Open allocate only their result

	mu    sync.RWMutex
	ring  Keyring
	kek   []byte
	pwMAC []byte
	keys  []*dataKey // ascending id, in step with ring.DataKeys
}

// dataKey is one unwrapped data key; [start, end) is its epoch in Unix
// nanoseconds. Only holders of mu touch it: readers get the AEAD through a
// keyIndex, so ExpireBefore can destroy the key without racing them.
type dataKey struct {
	id         uint32
	start, end int64
	key        []byte
	aead       cipher.AEAD // built once from key; nil once destroyed
	root       []byte      // HKDF root of SealPair's subkeys; nil once destroyed
}

// setKey installs key and builds its AEAD once, so Seal and Open never pay
// for chacha20poly1305.NewX and its key copy.
func (k *dataKey) setKey(key []byte) {
	k.key, k.aead, k.root = key, newAEAD(key), pairRoot(key)
}

// destroy is ExpireBefore's best effort at forgetting a key. The AEAD keeps
// its own copy of the key, out of our reach, so dropping the reference leaves
// that copy to the garbage collector, exactly like the copy every Seal and
// Open used to make: no weaker than before. A Seal or Open that fetched the
// AEAD before expiry may still finish with it; it is never mutated, so that
// is safe, and the record it seals then fails to open with ErrUnknownKey.
func (k *dataKey) destroy() {
	clear(k.key)
	k.aead, k.root = nil, nil // the root is dropped, not cleared, for the same reason
}

// keyIndex is an immutable snapshot of the key set for Seal and Open. It
// holds AEADs by value rather than *dataKey, so readers never see a field
// that a writer changes.
type keyIndex struct {
	byID    map[uint32]cipher.AEAD // for Open
	byEpoch map[int64]sealKey      // newest key per epoch start of the current length
	newest  sealKey                // for times no epoch covers

	// pairRoots and pairs serve SealPair and Open of pair records; each
	// index has a cache of its own, so subkeys of a destroyed data key
	// are forgotten along with the index that held it.
	pairRoots map[uint32][]byte
	pairs     *pairCache
}

// sealKey is what Seal needs of a data key.
type sealKey struct {
	id   uint32
	aead cipher.AEAD
}

// forSeal picks the key for a record in the epoch starting at start: the
// newest key of that epoch, or the newest key of all if none covers it.
func (ix *keyIndex) forSeal(start int64) sealKey {
	if k, ok := ix.byEpoch[start]; ok {
		return k
	}
	return ix.newest // always set: the keyring and ExpireBefore see to it
}

func newVault(ring Keyring, kek, nameKey, password []byte, epoch time.Duration, keys []*dataKey) *Vault {
	v := &Vault{
		epoch:   epoch,
		now:     time.Now,
		nameKey: nameKey,
		pwKey:   randomBytes(keyLen),
		ring:    ring,
		kek:     kek,
		keys:    keys,
	}
	v.scratch.New = func() any { return new(scratch) }
	v.pwMAC = v.passwordMAC(password)
	slices.SortFunc(v.keys, func(a, b *dataKey) int { return cmp.Compare(a.id, b.id) })
	v.reindexLocked()
	return v
}

// Keyring returns a copy of the current persisted form. Store it whenever
// NewKeyring, ChangePassword, Rotate, EnsureEpochKeys or ExpireBefore
// reports a change.
func (v *Vault) Keyring() *Keyring {
	v.mu.RLock()
	defer v.mu.RUnlock()
	k := v.ring.clone()
	return &k
}

// Adopt makes k, a keyring saved by another process that holds the same
// password (another node of a cluster, or rotate-key), the vault's own:
// the keys it added are used, the ones it destroyed are destroyed here
// too, and where both made a key with the same id, k's wins. A keyring
// wrapped under another password or salt (passwd) returns
// ErrWrongPassword: opening it takes the new password and a restart.
func (v *Vault) Adopt(k *Keyring) error {
	if err := k.validate(); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if k.KDF != v.ring.KDF || !bytes.Equal(k.Salt, v.ring.Salt) || !bytes.Equal(k.NameKey, v.ring.NameKey) {
		return ErrWrongPassword
	}
	mine := make(map[uint32][]byte, len(v.ring.DataKeys))
	for _, w := range v.ring.DataKeys {
		mine[w.ID] = w.Wrapped
	}
	keep := make(map[*dataKey]bool, len(v.keys))
	keys := make([]*dataKey, 0, len(k.DataKeys))
	for _, w := range k.DataKeys {
		if i := slices.IndexFunc(v.keys, func(d *dataKey) bool { return d.id == w.ID }); i >= 0 && bytes.Equal(mine[w.ID], w.Wrapped) {
			keys, keep[v.keys[i]] = append(keys, v.keys[i]), true
			continue
		}
		dk, err := unwrapData(v.kek, w)
		if err != nil {
			return err
		}
		keys = append(keys, dk)
	}
	for _, d := range v.keys {
		if !keep[d] {
			d.destroy()
		}
	}
	slices.SortFunc(keys, func(a, b *dataKey) int { return cmp.Compare(a.id, b.id) })
	v.ring, v.keys = k.clone(), keys
	v.reindexLocked()
	return nil
}

// CheckPassword reports whether pw is the room password, in constant time
// and without an Argon2 run, so logins are cheap and cannot exhaust the CPU.
func (v *Vault) CheckPassword(pw []byte) bool {
	mac := v.passwordMAC(pw)
	v.mu.RLock()
	defer v.mu.RUnlock()
	return subtle.ConstantTimeCompare(mac, v.pwMAC) == 1
}

func (v *Vault) passwordMAC(pw []byte) []byte {
	h := hmac.New(sha256.New, v.pwKey)
	h.Write(pw)
	return h.Sum(nil)
}

// TargetKey returns the opaque store key for a casefolded channel or nick: a
// keyed hash, so names never reach the store. It is stable across password
// changes and key rotation because the name key never changes.
func (v *Vault) TargetKey(casefolded string) string {
	h := hmac.New(sha256.New, v.nameKey)
	h.Write([]byte(casefolded))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// ChangePassword re-wraps every key under a key derived from newPassword
// with a new salt and returns the keyring to persist. Records stay readable;
// from now on CheckPassword accepts only newPassword.
func (v *Vault) ChangePassword(newPassword []byte, p KDFParams) (*Keyring, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	salt := randomBytes(saltLen)
	kek := p.deriveKey(newPassword, salt) // outside the lock: it takes a while
	mac := v.passwordMAC(newPassword)

	v.mu.Lock()
	defer v.mu.Unlock()
	ring := Keyring{
		Version: keyringVersion,
		KDF:     p,
		Salt:    salt,
		NameKey: wrapKey(kek, v.nameKey, nameKeyAAD()),
		NextID:  v.ring.NextID,
	}
	for _, k := range v.keys {
		ring.DataKeys = append(ring.DataKeys, wrapData(kek, k))
	}
	v.ring, v.kek, v.pwMAC = ring, kek, mac
	out := ring.clone()
	return &out, nil
}

// Rotate adds a fresh data key for the epoch containing now, which Seal uses
// for new records from now on; old keys stay so old records remain readable.
// Keys already pre-created for later epochs are replaced by fresh ones too,
// since whatever exposed the current key exposed them as well.
func (v *Vault) Rotate(now time.Time) (*Keyring, error) {
	cur := epochStart(now, v.epoch)
	v.mu.Lock()
	defer v.mu.Unlock()
	starts := []int64{cur}
	for s := range v.index.Load().byEpoch {
		if s > cur {
			starts = append(starts, s)
		}
	}
	slices.Sort(starts)
	// One index for the whole rotation: a Seal meanwhile sees the keys
	// before it or after it, never a rotation half done.
	defer v.reindexLocked()
	for _, s := range starts {
		if err := v.addKeyLocked(s); err != nil {
			return nil, err
		}
	}
	out := v.ring.clone()
	return &out, nil
}

// EnsureEpochKeys makes sure keys exist for the epoch containing now and the
// next one, so crossing an epoch boundary never waits for a keyring write.
// Call it periodically and persist Keyring() when it reports a change.
func (v *Vault) EnsureEpochKeys(now time.Time) (changed bool) {
	cur := epochStart(now, v.epoch)
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range []int64{cur, cur + int64(v.epoch)} {
		if _, ok := v.index.Load().byEpoch[s]; ok {
			continue
		}
		if v.addKeyLocked(s) == nil {
			changed = true
		}
	}
	if changed {
		v.reindexLocked()
	}
	return changed
}

// ExpireBefore destroys every data key whose epoch ended at or before t,
// removing it from memory and from the keyring: records sealed under it can
// never be opened again, which is how retention is enforced. It never
// removes a key whose epoch has not ended by the wall clock, nor the newest
// key, so Seal always has a key. Persist Keyring() when removed > 0.
func (v *Vault) ExpireBefore(t time.Time) (removed int) {
	cutoff := min(t.UnixNano(), epochStart(v.now(), v.epoch))
	v.mu.Lock()
	defer v.mu.Unlock()
	newest := v.keys[len(v.keys)-1]
	gone := make(map[uint32]bool)
	for _, k := range v.keys {
		if k != newest && k.end <= cutoff {
			gone[k.id] = true
			k.destroy()
		}
	}
	if len(gone) == 0 {
		return 0
	}
	v.keys = slices.DeleteFunc(v.keys, func(k *dataKey) bool { return gone[k.id] })
	v.ring.DataKeys = slices.DeleteFunc(v.ring.DataKeys, func(w WrappedKey) bool { return gone[w.ID] })
	v.reindexLocked()
	return len(gone)
}

// addKeyLocked creates, wraps and records a data key for the epoch starting
// at start. The caller holds mu for writing and publishes the new key with
// reindexLocked.
func (v *Vault) addKeyLocked(start int64) error {
	if v.ring.NextID == math.MaxUint32 {
		return fmt.Errorf("crypto: data key ids exhausted")
	}
	k := &dataKey{id: v.ring.NextID, start: start, end: start + int64(v.epoch)}
	k.setKey(randomBytes(keyLen))
	v.ring.NextID++
	v.ring.DataKeys = append(v.ring.DataKeys, wrapData(v.kek, k))
	v.keys = append(v.keys, k)
	return nil
}

// reindexLocked publishes a new keyIndex; key sets are small and change
// rarely, so rebuilding beats keeping three structures in step by hand. Keys
// made under another epoch length stay openable but are not chosen by Seal.
// The caller holds mu for writing.
func (v *Vault) reindexLocked() {
	ix := &keyIndex{
		byID:      make(map[uint32]cipher.AEAD, len(v.keys)),
		byEpoch:   make(map[int64]sealKey, len(v.keys)),
		pairRoots: make(map[uint32][]byte, len(v.keys)),
		pairs:     &pairCache{m: make(map[pairSlot]cipher.AEAD)},
	}
	for _, k := range v.keys {
		ix.byID[k.id] = k.aead
		ix.pairRoots[k.id] = k.root
		if k.end-k.start != int64(v.epoch) {
			continue
		}
		if old, ok := ix.byEpoch[k.start]; !ok || k.id > old.id {
			ix.byEpoch[k.start] = sealKey{k.id, k.aead}
		}
	}
	if n := len(v.keys); n > 0 { // only NewKeyring's empty Vault has none
		ix.newest = sealKey{v.keys[n-1].id, v.keys[n-1].aead}
	}
	v.index.Store(ix)
}

func wrapData(kek []byte, k *dataKey) WrappedKey {
	return WrappedKey{
		ID:         k.id,
		EpochStart: time.Unix(0, k.start).UTC(),
		EpochEnd:   time.Unix(0, k.end).UTC(),
		Wrapped:    wrapKey(kek, k.key, k.aad()),
	}
}

// epochStart returns the start, in Unix nanoseconds, of the fixed window of
// length epoch (aligned to the Unix epoch) that contains t.
func epochStart(t time.Time, epoch time.Duration) int64 {
	n, d := t.UnixNano(), int64(epoch)
	s := n - n%d
	if n%d < 0 {
		s -= d // floor, not truncation, for times before 1970
	}
	return s
}
