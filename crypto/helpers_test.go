package crypto

import (
	"testing"
	"time"
)

// cheapKDF keeps every Argon2 run in the tests to well under a millisecond.
var cheapKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

const testEpoch = 24 * time.Hour

// testBase is a fixed moment well in the past, so ExpireBefore's wall-clock
// guard never interferes unless a test moves the clock on purpose.
var testBase = time.Date(2020, 3, 14, 15, 9, 26, 535897932, time.UTC)

func newTestVault(t testing.TB, password string) *Vault {
	t.Helper()
	v, err := NewKeyring([]byte(password), cheapKDF, testBase, testEpoch)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return v
}

func mustSeal(t testing.TB, v *Vault, target, msgid string, at time.Time, msg string) []byte {
	t.Helper()
	rec, err := v.Seal(target, msgid, at, []byte(msg))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return rec
}

func mustOpen(t testing.TB, v *Vault, target, msgid string, at time.Time, rec []byte) string {
	t.Helper()
	pt, err := v.Open(target, msgid, at, rec)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return string(pt)
}

func mustUnlock(t testing.TB, k *Keyring, password string) *Vault {
	t.Helper()
	v, err := k.Unlock([]byte(password), testEpoch)
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	return v
}

func keyID(rec []byte) uint32 {
	return uint32(rec[1])<<24 | uint32(rec[2])<<16 | uint32(rec[3])<<8 | uint32(rec[4])
}
