package push_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"securechat/ircd/push"
	"securechat/ircd/push/pushtest"
)

// TestParseSubscription covers WEBPUSH REGISTER's two parameters: what is
// accepted, and that everything else is refused with an error that maps
// to FAIL WEBPUSH INVALID_PARAMS.
func TestParseSubscription(t *testing.T) {
	t.Parallel()
	priv, _ := ecdh.P256().GenerateKey(rand.Reader)
	point := priv.PublicKey().Bytes()
	auth := bytes.Repeat([]byte{7}, 16)
	keys := "p256dh=" + pushtest.B64(point) + ";auth=" + pushtest.B64(auth)
	offCurve := append([]byte{4}, bytes.Repeat([]byte{1}, 64)...)

	good := []struct{ name, endpoint, keys string }{
		{"https", "https://push.example.com/wpush/v2/abc", keys},
		{"https with port and query", "https://push.example.com:8443/send?token=abc", keys},
		{"http to 127.0.0.1", "http://127.0.0.1:41234/push/x", keys},
		{"http to 127.9.9.9", "http://127.9.9.9/push", keys},
		{"http to ::1", "http://[::1]:8080/push", keys},
		{"http to localhost", "http://localhost:8080/push", keys},
		{"keys in the other order", "https://push.example.com/x", "auth=" + pushtest.B64(auth) + ";p256dh=" + pushtest.B64(point)},
		{"padded base64url", "https://push.example.com/x", "p256dh=" + base64.URLEncoding.EncodeToString(point) + ";auth=" + base64.URLEncoding.EncodeToString(auth)},
		{"extra keys ignored", "https://push.example.com/x", keys + ";future=xyz"},
	}
	for _, tc := range good {
		sub, err := push.ParseSubscription(tc.endpoint, tc.keys)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if sub.Endpoint != tc.endpoint || !bytes.Equal(sub.P256dh, point) || !bytes.Equal(sub.Auth, auth) {
			t.Errorf("%s: parsed %+v", tc.name, sub)
		}
	}

	bad := []struct {
		name, endpoint, keys string
		want                 error
	}{
		{"http to a public host", "http://push.example.com/x", keys, push.ErrBadEndpoint},
		{"http to a private address", "http://10.0.0.1/x", keys, push.ErrBadEndpoint},
		{"other scheme", "ftp://push.example.com/x", keys, push.ErrBadEndpoint},
		{"no scheme", "push.example.com/x", keys, push.ErrBadEndpoint},
		{"no host", "https:///x", keys, push.ErrBadEndpoint},
		{"credentials in the URL", "https://user:pw@push.example.com/x", keys, push.ErrBadEndpoint},
		{"fragment", "https://push.example.com/x#y", keys, push.ErrBadEndpoint},
		{"not a URL", "https://push.example.com/%zz", keys, push.ErrBadEndpoint},
		{"too long", "https://push.example.com/" + strings.Repeat("a", push.MaxEndpointLen), keys, push.ErrBadEndpoint},
		{"empty", "", keys, push.ErrBadEndpoint},
		{"space", "https://push.example.com/a b", keys, push.ErrBadEndpoint},
		{"control character", "https://push.example.com/a\x01", keys, push.ErrBadEndpoint},
		{"non-ASCII", "https://push.example.com/é", keys, push.ErrBadEndpoint},
		{"no keys", "https://push.example.com/x", "", push.ErrBadKeys},
		{"no auth", "https://push.example.com/x", "p256dh=" + pushtest.B64(point), push.ErrBadKeys},
		{"no p256dh", "https://push.example.com/x", "auth=" + pushtest.B64(auth), push.ErrBadKeys},
		{"short auth", "https://push.example.com/x", "p256dh=" + pushtest.B64(point) + ";auth=" + pushtest.B64(auth[:8]), push.ErrBadKeys},
		{"compressed point", "https://push.example.com/x", "p256dh=" + pushtest.B64(point[:33]) + ";auth=" + pushtest.B64(auth), push.ErrBadKeys},
		{"point off the curve", "https://push.example.com/x", "p256dh=" + pushtest.B64(offCurve) + ";auth=" + pushtest.B64(auth), push.ErrBadKeys},
		{"standard base64", "https://push.example.com/x", "p256dh=" + strings.NewReplacer("-", "+", "_", "/").Replace(pushtest.B64(point)) + "+/;auth=" + pushtest.B64(auth), push.ErrBadKeys},
		{"not base64", "https://push.example.com/x", "p256dh=!!!;auth=" + pushtest.B64(auth), push.ErrBadKeys},
	}
	for _, tc := range bad {
		_, err := push.ParseSubscription(tc.endpoint, tc.keys)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if code := push.FailCode(err); code != "INVALID_PARAMS" {
			t.Errorf("%s: FAIL code %s, want INVALID_PARAMS", tc.name, code)
		}
	}
	if code := push.FailCode(push.ErrQueueFull); code != "INTERNAL_ERROR" {
		t.Errorf("FAIL code for a send error %s, want INTERNAL_ERROR", code)
	}
}

// TestSubscriptionBinary checks a subscription survives the caller's
// storage and that damaged bytes are refused, not half-read.
func TestSubscriptionBinary(t *testing.T) {
	t.Parallel()
	sub := pushtest.NewSubscriber(t, "https://push.example.com/wpush/v2/abc").Sub
	b, err := sub.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back push.Subscription
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if back.Endpoint != sub.Endpoint || !bytes.Equal(back.P256dh, sub.P256dh) || !bytes.Equal(back.Auth, sub.Auth) {
		t.Errorf("round trip gave %+v, want %+v", back, sub)
	}
	b[0] = 0xff // the bytes are the caller's; back must not share them
	if back.Auth[0] != sub.Auth[0] || back.P256dh[0] != 4 {
		t.Error("unmarshalled subscription shares the input bytes")
	}

	good, _ := sub.MarshalBinary()
	for name, damage := range map[string]func([]byte) []byte{
		"empty":          func([]byte) []byte { return nil },
		"version":        func(b []byte) []byte { b[0] = 9; return b },
		"truncated keys": func(b []byte) []byte { return b[:50] },
		"no endpoint":    func(b []byte) []byte { return b[:1+16+65] },
		"off the curve":  func(b []byte) []byte { b[1+16+64] ^= 1; return b },
		"http endpoint":  func(b []byte) []byte { return append(b[:1+16+65], "http://example.com/x"...) },
	} {
		var s push.Subscription
		if err := s.UnmarshalBinary(damage(bytes.Clone(good))); err == nil {
			t.Errorf("%s: accepted as %+v", name, s)
		}
	}
}

// FuzzSubscription feeds WEBPUSH REGISTER parameters and stored bytes
// from nowhere trusted: neither may panic, and what parses survives the
// storage round trip unchanged.
func FuzzSubscription(f *testing.F) {
	priv, _ := ecdh.P256().GenerateKey(rand.Reader)
	keys := "p256dh=" + pushtest.B64(priv.PublicKey().Bytes()) + ";auth=" + pushtest.B64(make([]byte, 16))
	f.Add("https://push.example.com/x", keys, []byte{1})
	f.Add("http://127.0.0.1:1/x", "p256dh=;auth=", []byte("\x01"+strings.Repeat("A", 81)+"https://a"))
	f.Fuzz(func(t *testing.T, endpoint, keys string, stored []byte) {
		var s push.Subscription
		_ = s.UnmarshalBinary(stored)
		sub, err := push.ParseSubscription(endpoint, keys)
		if err != nil {
			return
		}
		b, _ := sub.MarshalBinary()
		var back push.Subscription
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatalf("parsed subscription does not read back: %v", err)
		}
		if back.Endpoint != sub.Endpoint || !bytes.Equal(back.P256dh, sub.P256dh) || !bytes.Equal(back.Auth, sub.Auth) {
			t.Fatalf("round trip changed %+v into %+v", sub, back)
		}
	})
}
