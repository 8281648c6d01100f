package history

import (
	"testing"
	"time"
)

func TestLinkSealerRoundTrip(t *testing.T) {
	v := newTestVault(t)
	h, _ := newTestHistory(t, v, newMemory())
	l := h.LinkSealer()
	sealed, err := l.Seal([]byte("between nodes"), []byte("hdr#key"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := l.Open(sealed, []byte("hdr#key")); err != nil || string(got) != "between nodes" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := l.Open(sealed, []byte("hdr#other")); err == nil {
		t.Fatal("opened under another target")
	}
	moved := append([]byte(nil), sealed...)
	moved[7]++ // another time
	if _, err := l.Open(moved, []byte("hdr#key")); err == nil {
		t.Fatal("opened with its time changed")
	}
	if _, err := l.Open(sealed[:5], []byte("hdr#key")); err == nil {
		t.Fatal("opened a truncated payload")
	}
}

// A node that made the next epoch's key seals link traffic under the
// current one, which a node that has not adopted the new key yet holds.
func TestLinkSealerUsesTheCurrentEpochKey(t *testing.T) {
	st := newMemory()
	saveTestKeyring(t, st, newTestVault(t))
	a, b := openStoredVault(t, st), openStoredVault(t, st)
	a.EnsureEpochKeys(time.Now().Add(2 * testEpoch))
	ha, _ := newTestHistory(t, a, st)
	hb, _ := newTestHistory(t, b, st)
	sealed, err := ha.LinkSealer().Seal([]byte("x"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hb.LinkSealer().Open(sealed, []byte("aad")); err != nil {
		t.Fatalf("a node without the future key cannot open: %v", err)
	}
}
