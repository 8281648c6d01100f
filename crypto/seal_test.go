package crypto

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "room password")
	tests := []struct {
		name, target, msgid string
		plaintext           []byte
	}{
		{"empty message", v.TargetKey("#chan"), "m1", nil},
		{"200 bytes", v.TargetKey("#chan"), "m2", bytes.Repeat([]byte("x"), 200)},
		{"64 KiB", v.TargetKey("nick"), "m3", bytes.Repeat([]byte{0xff}, 64<<10)},
		{"empty target and msgid", "", "", []byte("hello")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := v.Seal(tt.target, tt.msgid, testBase, tt.plaintext)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if len(rec) != len(tt.plaintext)+Overhead {
				t.Errorf("sealed length %d, want %d", len(rec), len(tt.plaintext)+Overhead)
			}
			got, err := v.Open(tt.target, tt.msgid, testBase, rec)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestSealNoncesDiffer(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	a := mustSeal(t, v, "t", "m", testBase, "same")
	b := mustSeal(t, v, "t", "m", testBase, "same")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same record are identical; nonce not random")
	}
}

func TestOpenRejectsTampering(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	const target, msgid = "abc123", "msg-1"
	rec := mustSeal(t, v, target, msgid, testBase, "the secret text")
	flip := func(i int) func([]byte) []byte {
		return func(b []byte) []byte { b[i] ^= 0x01; return b }
	}
	keep := func(b []byte) []byte { return b }
	tests := []struct {
		name          string
		mutate        func([]byte) []byte
		target, msgid string
		at            time.Time
	}{
		{"version byte", flip(0), target, msgid, testBase},
		{"key id", flip(4), target, msgid, testBase},
		{"nonce first byte", flip(5), target, msgid, testBase},
		{"nonce last byte", flip(headerLen - 1), target, msgid, testBase},
		{"ciphertext", flip(headerLen), target, msgid, testBase},
		{"tag", flip(len(rec) - 1), target, msgid, testBase},
		{"other target key", keep, "abc124", msgid, testBase},
		{"other msgid", keep, target, "msg-2", testBase},
		{"other time", keep, target, msgid, testBase.Add(time.Nanosecond)},
		{"target and msgid shifted", keep, target + "m", "sg-1", testBase},
		{"truncated by one", func(b []byte) []byte { return b[:len(b)-1] }, target, msgid, testBase},
		{"header only", func(b []byte) []byte { return b[:headerLen] }, target, msgid, testBase},
		{"extra byte", func(b []byte) []byte { return append(b, 0) }, target, msgid, testBase},
		{"empty", func([]byte) []byte { return []byte{} }, target, msgid, testBase},
		{"nil", func([]byte) []byte { return nil }, target, msgid, testBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bad := tt.mutate(bytes.Clone(rec))
			got, err := v.Open(tt.target, tt.msgid, tt.at, bad)
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %q, %v; want error wrapping ErrOpen", got, err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks plaintext: %v", err)
			}
		})
	}
}

func TestOpenUnknownKeyID(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	rec := mustSeal(t, v, "t", "m", testBase, "hi")
	rec[1], rec[2], rec[3], rec[4] = 0xde, 0xad, 0xbe, 0xef
	_, err := v.Open("t", "m", testBase, rec)
	if !errors.Is(err, ErrOpen) || !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open = %v; want ErrOpen and ErrUnknownKey", err)
	}
}

func TestOpenWithOtherVault(t *testing.T) {
	t.Parallel()
	a, b := newTestVault(t, "pw"), newTestVault(t, "pw")
	rec := mustSeal(t, a, "t", "m", testBase, "hi")
	// Both vaults number their keys from 1, so this reaches the AEAD check.
	if _, err := b.Open("t", "m", testBase, rec); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open under another keyring = %v; want ErrOpen", err)
	}
}

func BenchmarkSeal(b *testing.B) {
	v := newTestVault(b, "pw")
	msg := bytes.Repeat([]byte("m"), 200)
	target := v.TargetKey("#securechat")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Seal(target, "01HZXV3QJ8K2", testBase, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	v := newTestVault(b, "pw")
	target := v.TargetKey("#securechat")
	rec := mustSeal(b, v, target, "01HZXV3QJ8K2", testBase, strings.Repeat("m", 200))
	b.SetBytes(200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Open(target, "01HZXV3QJ8K2", testBase, rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealParallel(b *testing.B) {
	v := newTestVault(b, "pw")
	msg := bytes.Repeat([]byte("m"), 200)
	b.SetBytes(int64(len(msg)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Seal("target", "msgid", testBase, msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
