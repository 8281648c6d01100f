package crypto

import (
	"errors"
	"testing"
	"time"
)

// Two nodes unlock one keyring; one adds the next epoch's key and the
// other adopts the saved keyring, then opens what the first sealed.
func TestAdoptTakesAnotherNodesKeys(t *testing.T) {
	a := newTestVault(t, "room")
	data, err := a.Keyring().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKeyring(data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Unlock([]byte("room"), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	later := testBase.Add(3 * testEpoch)
	if !a.EnsureEpochKeys(later) {
		t.Fatal("no key added")
	}
	rec := mustSeal(t, a, "t", "m", later, "from a")
	if _, err := b.Open("t", "m", later, rec); err == nil {
		t.Fatal("b opened a record under a key it does not hold yet")
	}
	if err := b.Adopt(a.Keyring()); err != nil {
		t.Fatal(err)
	}
	if got := mustOpen(t, b, "t", "m", later, rec); got != "from a" {
		t.Fatalf("opened %q", got)
	}
	if got := mustOpen(t, a, "t", "m", later, mustSeal(t, b, "t", "m", later, "from b")); got != "from b" {
		t.Fatal("a cannot open what b sealed after adopting")
	}
}

// When both made a key with the same id, the adopted keyring's wins, and
// keys it destroyed are gone here too.
func TestAdoptResolvesClashesAndExpiry(t *testing.T) {
	a := newTestVault(t, "room")
	k := a.Keyring()
	b, err := k.Unlock([]byte("room"), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	later := testBase.Add(3 * testEpoch)
	a.EnsureEpochKeys(later)
	b.EnsureEpochKeys(later) // same ids, other keys
	if err := b.Adopt(a.Keyring()); err != nil {
		t.Fatal(err)
	}
	rec := mustSeal(t, a, "t", "m", later, "x")
	mustOpen(t, b, "t", "m", later, rec)

	old := mustSeal(t, a, "t", "m", testBase, "old")
	a.now = func() time.Time { return later.Add(testEpoch) }
	if a.ExpireBefore(later) == 0 {
		t.Fatal("nothing expired")
	}
	if err := b.Adopt(a.Keyring()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open("t", "m", testBase, old); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("b still opens a record under a key a destroyed: %v", err)
	}
}

func TestAdoptRefusesAnotherPassword(t *testing.T) {
	a := newTestVault(t, "room")
	other := newTestVault(t, "room") // same password, its own salt and keys
	if err := a.Adopt(other.Keyring()); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("Adopt of a foreign keyring = %v, want ErrWrongPassword", err)
	}
}
