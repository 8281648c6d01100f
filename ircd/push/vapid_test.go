package push_test

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"testing"

	"securechat/ircd/push"
)

// TestVAPIDKey checks the key survives Marshal and ParseVAPIDKey, and
// that its public form is what ISUPPORT VAPID= and browsers take: the
// unpadded base64url of an uncompressed P-256 point.
func TestVAPIDKey(t *testing.T) {
	t.Parallel()
	k := newVAPIDKey(t)
	pub, err := base64.RawURLEncoding.Strict().DecodeString(k.Public())
	if err != nil {
		t.Fatalf("public key %q is not unpadded base64url: %v", k.Public(), err)
	}
	if _, err := ecdh.P256().NewPublicKey(pub); err != nil || len(pub) != 65 || pub[0] != 4 {
		t.Errorf("public key is not an uncompressed P-256 point: %d bytes, %v", len(pub), err)
	}
	back, err := push.ParseVAPIDKey(k.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if back.Public() != k.Public() || !back.PublicKey().Equal(k.PublicKey()) {
		t.Error("parsed key differs from the marshalled one")
	}
	if other := newVAPIDKey(t); other.Public() == k.Public() || bytes.Equal(other.Marshal(), k.Marshal()) {
		t.Error("two generated keys are equal")
	}
}

func TestParseVAPIDKeyRejects(t *testing.T) {
	t.Parallel()
	good := newVAPIDKey(t).Marshal()
	for name, b := range map[string][]byte{
		"empty":      nil,
		"short":      good[:20],
		"long":       append(bytes.Clone(good), 0),
		"version":    append([]byte{2}, good[1:]...),
		"zero":       append([]byte{1}, make([]byte, 32)...),
		"past order": append([]byte{1}, bytes.Repeat([]byte{0xff}, 32)...),
	} {
		if _, err := push.ParseVAPIDKey(b); !errors.Is(err, push.ErrBadVAPIDKey) {
			t.Errorf("%s: %v, want ErrBadVAPIDKey", name, err)
		}
	}
}
