package crypto

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

func mustSealPair(t testing.TB, v *Vault, target, msgid string, at time.Time, msg string) []byte {
	t.Helper()
	rec, err := v.SealPair(target, msgid, at, []byte(msg))
	if err != nil {
		t.Fatalf("SealPair: %v", err)
	}
	return rec
}

// TestSealPairOpensOnlyForItsPair seals a pair record and opens it with
// its own target key, from this vault and from the keyring reopened (a
// restart), and with nothing else: not another pair's key, and not as an
// ordinary record with the data key itself.
func TestSealPairOpensOnlyForItsPair(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	ab, ac := v.TargetKey("pair:a b"), v.TargetKey("pair:a c")
	rec := mustSealPair(t, v, ab, "m", testBase, "secret")
	if rec[0] != recordVersionPair {
		t.Fatalf("pair record version %d, want %d", rec[0], recordVersionPair)
	}
	for _, vault := range []*Vault{v, mustUnlock(t, v.Keyring(), "pw")} {
		if got := mustOpen(t, vault, ab, "m", testBase, rec); got != "secret" {
			t.Fatalf("Open = %q", got)
		}
	}
	if _, err := v.Open(ac, "m", testBase, rec); !errors.Is(err, ErrOpen) {
		t.Errorf("Open with another pair's key = %v; want ErrOpen", err)
	}
	asPlain := append([]byte(nil), rec...)
	asPlain[0] = recordVersion
	if _, err := v.Open(ab, "m", testBase, asPlain); !errors.Is(err, ErrOpen) {
		t.Errorf("pair record opened with the data key itself: %v", err)
	}
	plain := mustSeal(t, v, ab, "m", testBase, "secret")
	plain[0] = recordVersionPair
	if _, err := v.Open(ab, "m", testBase, plain); !errors.Is(err, ErrOpen) {
		t.Errorf("ordinary record opened as a pair record: %v", err)
	}
}

// TestSealPairSubkeyIsHKDF opens a pair record by hand with the subkey
// HKDF gives for its data key and target key, and fails with the subkey
// of another target, so the derivation is the documented one.
func TestSealPairSubkeyIsHKDF(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	target := v.TargetKey("pair:a b")
	rec := mustSealPair(t, v, target, "m", testBase, "secret")
	var dk []byte
	for _, k := range v.keys {
		if k.id == keyID(rec) {
			dk = k.key
		}
	}
	open := func(target string) error {
		sub, err := derivePairKey(pairRoot(dk), target)
		if err != nil {
			t.Fatal(err)
		}
		aead, err := chacha20poly1305.NewX(sub)
		if err != nil {
			t.Fatal(err)
		}
		_, err = aead.Open(nil, rec[5:headerLen], rec[headerLen:], appendRecordAAD(nil, rec[:5], target, "m", testBase))
		return err
	}
	if err := open(target); err != nil {
		t.Fatalf("the HKDF subkey does not open the record: %v", err)
	}
	if open(v.TargetKey("pair:a c")) == nil {
		t.Fatal("another pair's subkey opened the record")
	}
}

// TestSealPairFollowsRotationAndExpiry: pair records of an expired epoch
// no longer open (ErrUnknownKey), those of a live epoch do, and after a
// rotation both old and new pair records open.
func TestSealPairFollowsRotationAndExpiry(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	target := v.TargetKey("pair:a b")
	day := func(n int) time.Time { return testBase.Add(time.Duration(n) * testEpoch) }
	v.EnsureEpochKeys(day(1))
	old := mustSealPair(t, v, target, "m", day(0), "old")
	if _, err := v.Rotate(day(1)); err != nil {
		t.Fatal(err)
	}
	cur := mustSealPair(t, v, target, "m", day(1), "new")
	if keyID(old) == keyID(cur) {
		t.Fatal("rotation did not change the pair record's key")
	}
	mustOpen(t, v, target, "m", day(0), old)
	mustOpen(t, v, target, "m", day(1), cur)

	if v.ExpireBefore(time.Unix(0, epochStart(day(1), testEpoch))) == 0 {
		t.Fatal("ExpireBefore removed nothing")
	}
	if _, err := v.Open(target, "m", day(0), old); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("expired pair record: Open = %v; want ErrUnknownKey", err)
	}
	mustOpen(t, v, target, "m", day(1), cur)
}

// TestPairCacheBounded fills the subkey cache past its bound; it starts
// over rather than growing, and records still open.
func TestPairCacheBounded(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	for i := range pairCacheMax + 10 {
		target := v.TargetKey("pair:" + string(rune('a'+i%26)) + " " + time.Duration(i).String())
		rec := mustSealPair(t, v, target, "m", testBase, "x")
		mustOpen(t, v, target, "m", testBase, rec)
	}
	ix := v.index.Load()
	ix.pairs.mu.Lock()
	n := len(ix.pairs.m)
	ix.pairs.mu.Unlock()
	if n > pairCacheMax {
		t.Fatalf("pair cache holds %d subkeys, bound %d", n, pairCacheMax)
	}
}

func BenchmarkSealPair(b *testing.B) {
	v := newTestVault(b, "pw")
	target := v.TargetKey("pair:a b")
	msg := make([]byte, 200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.SealPair(target, "m", testBase, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPairSubkey is what a SealPair or Open costs beyond Seal when
// the pair's subkey is not cached: HKDF-Expand and the AEAD's setup.
func BenchmarkPairSubkey(b *testing.B) {
	root := pairRoot(make([]byte, keyLen))
	b.ReportAllocs()
	for b.Loop() {
		key, err := derivePairKey(root, "0123456789abcdef0123456789abcdef")
		if err != nil {
			b.Fatal(err)
		}
		newAEAD(key)
	}
}
