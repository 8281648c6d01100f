package crypto

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzOpen checks that Open never panics and that anything it accepts is
// exactly the record that was sealed.
func FuzzOpen(f *testing.F) {
	v := newTestVault(f, "fuzz")
	const target, msgid, text = "target", "msgid", "fuzz plaintext"
	rec := mustSeal(f, v, target, msgid, testBase, text)
	f.Add(rec, target, msgid, testBase.UnixNano())
	f.Add(rec[:len(rec)-1], target, msgid, testBase.UnixNano())
	f.Add(rec[:headerLen], target, msgid, testBase.UnixNano())
	f.Add(append(bytes.Clone(rec), 0), target, msgid, testBase.UnixNano())
	f.Add(rec, "other", msgid, testBase.UnixNano())
	f.Add(rec, target, msgid, int64(0))
	f.Add([]byte{}, "", "", int64(0))
	f.Add([]byte{recordVersion, 0, 0, 0, 1}, target, msgid, int64(-1))
	f.Fuzz(func(t *testing.T, sealed []byte, tk, id string, nanos int64) {
		pt, err := v.Open(tk, id, time.Unix(0, nanos), sealed)
		if err != nil {
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("Open error %v does not wrap ErrOpen", err)
			}
			return
		}
		if string(pt) != text || tk != target || id != msgid || nanos != testBase.UnixNano() {
			t.Fatalf("Open accepted a forged record: %q for (%q, %q, %d)", pt, tk, id, nanos)
		}
	})
}
