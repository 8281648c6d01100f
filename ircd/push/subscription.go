package push

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"gopkg.in/irc.v4"
)

// MaxEndpointLen bounds an endpoint URL. Real push services hand out
// URLs of 100 to 400 bytes; a WEBPUSH REGISTER line cannot carry more
// than its 512 bytes anyway, and a stored subscription is read back
// through the same check.
const MaxEndpointLen = 1024

// Sizes RFC 8291 fixes for the subscriber's keys.
const (
	p256dhLen = 65 // uncompressed P-256 point
	authLen   = 16
)

// Errors from ParseSubscription and UnmarshalBinary. FailCode maps them
// to the draft/webpush FAIL codes.
var (
	ErrBadEndpoint = errors.New("push: endpoint must be an https URL (http only to loopback)")
	ErrBadKeys     = errors.New("push: keys must hold base64url p256dh (a P-256 point) and auth (16 bytes)")
	errBadRecord   = errors.New("push: malformed stored subscription")
)

// Subscription is one push endpoint and the keys its subscriber gave
// (RFC 8291): P256dh, the subscriber's public key, and Auth, the shared
// authentication secret. Both keys are secrets as far as storage goes:
// with them anyone could push to the subscriber.
type Subscription struct {
	Endpoint string
	P256dh   []byte
	Auth     []byte
}

// ParseSubscription reads the two parameters of WEBPUSH REGISTER
// <endpoint> <keys>, where keys is in message-tag form,
// "p256dh=…;auth=…", each value base64url. An endpoint must be https,
// except http to a loopback address, which tests use.
func ParseSubscription(endpoint, keys string) (Subscription, error) {
	if err := checkEndpoint(endpoint); err != nil {
		return Subscription{}, err
	}
	tags := irc.ParseTags(keys)
	p256dh, err := decodeKey(tags["p256dh"], p256dhLen)
	if err != nil {
		return Subscription{}, err
	}
	if _, err := ecdh.P256().NewPublicKey(p256dh); err != nil {
		return Subscription{}, fmt.Errorf("%w: p256dh is not on the curve", ErrBadKeys)
	}
	auth, err := decodeKey(tags["auth"], authLen)
	if err != nil {
		return Subscription{}, err
	}
	return Subscription{Endpoint: endpoint, P256dh: p256dh, Auth: auth}, nil
}

func checkEndpoint(endpoint string) error {
	if len(endpoint) > MaxEndpointLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrBadEndpoint, MaxEndpointLen)
	}
	// Push services hand out plain ASCII URLs; anything else is refused
	// before url.Parse, which lets spaces and non-ASCII through.
	if strings.ContainsFunc(endpoint, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return ErrBadEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return ErrBadEndpoint
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
	}
	return ErrBadEndpoint
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// decodeKey decodes base64url, padded or not (browsers leave the padding
// off, some libraries keep it), and checks the length.
func decodeKey(s string, size int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) != size {
		return nil, ErrBadKeys
	}
	return b, nil
}

// FailCode is the draft/webpush FAIL code for an error from this package:
// INVALID_PARAMS for a bad endpoint or bad keys, INTERNAL_ERROR otherwise.
func FailCode(err error) string {
	if errors.Is(err, ErrBadEndpoint) || errors.Is(err, ErrBadKeys) {
		return "INVALID_PARAMS"
	}
	return "INTERNAL_ERROR"
}

// subVersion leads a marshalled subscription.
const subVersion = 1

// MarshalBinary encodes the subscription for storage: a version byte, the
// auth secret, the p256dh key, then the endpoint. The caller seals the
// bytes: endpoint and keys are never to be stored in the clear.
func (s Subscription) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 1+authLen+p256dhLen+len(s.Endpoint))
	b = append(b, subVersion)
	b = append(b, s.Auth...)
	b = append(b, s.P256dh...)
	return append(b, s.Endpoint...), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote and checks it as
// ParseSubscription would.
func (s *Subscription) UnmarshalBinary(b []byte) error {
	if len(b) < 1+authLen+p256dhLen || b[0] != subVersion {
		return errBadRecord
	}
	auth, p256dh := b[1:1+authLen], b[1+authLen:1+authLen+p256dhLen]
	endpoint := string(b[1+authLen+p256dhLen:])
	if err := checkEndpoint(endpoint); err != nil {
		return fmt.Errorf("%w: %w", errBadRecord, err)
	}
	if _, err := ecdh.P256().NewPublicKey(p256dh); err != nil {
		return fmt.Errorf("%w: %w", errBadRecord, err)
	}
	*s = Subscription{Endpoint: endpoint, P256dh: bytes.Clone(p256dh), Auth: bytes.Clone(auth)}
	return nil
}
