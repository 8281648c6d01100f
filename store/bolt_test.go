package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// openBolt opens a Bolt store at path and closes it when the test ends.
func openBolt(t *testing.T, path string, opts Options) *Bolt {
	t.Helper()
	b, err := OpenBolt(path, opts)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestBoltContract(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T, opts Options) Store {
		return openBolt(t, filepath.Join(t.TempDir(), "securechat.db"), opts)
	})
}

// TestBoltPersistsAcrossReopen: history, targets, the keyring and channel
// states written before Close are all there after opening the file again.
func TestBoltPersistsAcrossReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "securechat.db")
	b, err := OpenBolt(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, b, "k", Record{ID: "a", Time: at(1), Data: []byte("sealed-a")}, Record{ID: "b", Time: at(2)})
	if err := b.SaveKeyring(t.Context(), []byte("ring")); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveChannelState(t.Context(), "c", []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openBolt(t, path, Options{})
	got := mustQuery(t, b, "k", Query{Limit: 10})
	if !slices.Equal(ids(got), []string{"a", "b"}) || string(got[0].Data) != "sealed-a" {
		t.Errorf("history after reopen = %+v, want a (sealed-a), b", got)
	}
	// A record older than the newest still goes after it once reopened.
	mustAppend(t, b, "k", Record{ID: "c", Time: at(0)})
	if got := ids(mustQuery(t, b, "k", Query{Limit: 10})); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("after a clock-back append = %v, want [a b c]", got)
	}
	if ring, err := b.Keyring(t.Context()); err != nil || string(ring) != "ring" {
		t.Errorf("Keyring after reopen = %q, %v", ring, err)
	}
	if st, err := b.ChannelStates(t.Context()); err != nil || string(st["c"]) != "state" {
		t.Errorf("ChannelStates after reopen = %q, %v", st, err)
	}
	if tg, err := b.Targets(t.Context(), time.Time{}, time.Time{}, 10); err != nil || len(tg) != 1 || !tg[0].Latest.Equal(at(2)) {
		t.Errorf("Targets after reopen = %+v, %v; want k at %v", tg, err, at(2))
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("database file mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
}

// TestBoltInUse: a second open of the same file fails with ErrInUse after
// the lock timeout instead of hanging.
func TestBoltInUse(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "securechat.db")
	openBolt(t, path, Options{})
	start := time.Now()
	b, err := OpenBolt(path, Options{})
	if err == nil {
		_ = b.Close()
		t.Fatal("second OpenBolt succeeded, want ErrInUse")
	}
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), path) {
		t.Errorf("second OpenBolt: %v, want ErrInUse naming %s", err, path)
	}
	if d := time.Since(start); d > 3*boltLockTimeout {
		t.Errorf("second OpenBolt took %v", d)
	}
}

// TestBoltRefusesOversizedKey: a key bbolt cannot hold is refused as
// ErrRefused (so the queue can discard it), and the rest of its batch is
// not half written.
func TestBoltRefusesOversizedKey(t *testing.T) {
	t.Parallel()
	b := openBolt(t, filepath.Join(t.TempDir(), "securechat.db"), Options{})
	batch := []KeyedRecord{
		{Key: "ok", Record: Record{ID: "1", Time: at(1)}},
		{Key: strings.Repeat("x", 40000), Record: Record{ID: "2", Time: at(2)}},
	}
	if err := b.AppendBatch(t.Context(), batch); !errors.Is(err, ErrRefused) {
		t.Fatalf("AppendBatch with an oversized key: %v, want ErrRefused", err)
	}
	if got := mustQuery(t, b, "ok", Query{Limit: 10}); len(got) != 0 {
		t.Errorf("refused batch left %v behind", ids(got))
	}
}

// printableRun finds runs of text a reader of the file would notice.
var printableRun = regexp.MustCompile(`[[:print:]]{5,}`)

// TestBoltFileHoldsOnlyWhatCallersGive writes records and states whose
// sealed bytes the test controls (no printable text but one marker), then
// reads the database file: the sealed bytes are there verbatim, and every
// readable string in it is one the caller gave (an opaque key or msgid)
// or one of the store's fixed bucket names, so the store adds no clear
// text of its own.
func TestBoltFileHoldsOnlyWhatCallersGive(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "securechat.db")
	b := openBolt(t, path, Options{MaxLen: 100})
	sealed := func(i int) []byte {
		d := make([]byte, 300)
		for j := range d {
			d[j] = byte(0x80 | (i+j)%0x7f)
		}
		return d
	}
	allowed := []string{"history", "meta", "state", "channels", "keyring", "blobs", "kaccount", "marker-in-sealed-data"}
	for i, key := range []string{"3f9a0c21d4e5b6a7", "c0ffee00deadbeef"} {
		allowed = append(allowed, "k"+key)
		for n := range 50 {
			id := "msgid" + key[:4] + string(rune('a'+n%26)) + string(rune('a'+n/26))
			allowed = append(allowed, id)
			mustAppend(t, b, key, Record{ID: id, Time: at(n), Data: sealed(i + n)})
		}
		if err := b.SaveChannelState(t.Context(), key, sealed(i)); err != nil {
			t.Fatal(err)
		}
		if err := b.SaveBlob(t.Context(), "account", key, sealed(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SaveKeyring(t.Context(), append(sealed(7), "marker-in-sealed-data"...)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, sealed(7)) || !bytes.Contains(raw, []byte("marker-in-sealed-data")) {
		t.Fatal("the sealed keyring is not in the file verbatim: the scan below would prove nothing")
	}
	// Page headers next to a name may add a printable byte or two, so the
	// given strings are cut out first and only what is left is judged.
	slices.SortFunc(allowed, func(a, b string) int { return len(b) - len(a) })
	for _, run := range printableRun.FindAll(raw, -1) {
		rest := string(run)
		for _, a := range allowed {
			rest = strings.ReplaceAll(rest, a, "\x00")
		}
		if printableRun.MatchString(rest) {
			t.Errorf("the file holds text no caller gave: %q", run)
		}
	}
}
