// Package push sends IRCv3 draft/webpush notifications: one IRC line per
// push, encrypted for the subscriber (RFC 8291, aes128gcm) and signed with
// the server's VAPID key (RFC 8292).
//
// It is self-contained: it knows no server, store or vault. The caller
// keeps the VAPID key and the subscriptions, sealing the bytes that
// Marshal and MarshalBinary return before they reach storage; the caller
// decides which events push (see Sender.Push) and unsubscribes when a send
// reports ErrGone.
package push

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// vapidVersion leads a marshalled key so a later format can be told apart.
const vapidVersion = 1

// ErrBadVAPIDKey means bytes given to ParseVAPIDKey are not a key that
// MarshalVAPIDKey wrote.
var ErrBadVAPIDKey = errors.New("push: malformed VAPID key")

// VAPIDKey is the server's application-server key pair (RFC 8292): an
// ECDSA P-256 key generated once, whose public half clients give the push
// service when they subscribe. It must outlive restarts, or every
// subscription stops working. A VAPIDKey is immutable and safe for
// concurrent use.
type VAPIDKey struct {
	priv       *ecdsa.PrivateKey
	privString string // base64url scalar, the form webpush-go signs with
	pubString  string // base64url uncompressed point
}

// GenerateVAPIDKey makes a new key pair.
func GenerateVAPIDKey() (*VAPIDKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("push: generate VAPID key: %w", err)
	}
	return newVAPIDKey(priv)
}

// ParseVAPIDKey reads a key written by Marshal.
func ParseVAPIDKey(b []byte) (*VAPIDKey, error) {
	if len(b) != 1+32 || b[0] != vapidVersion {
		return nil, ErrBadVAPIDKey
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadVAPIDKey, err)
	}
	return newVAPIDKey(priv)
}

func newVAPIDKey(priv *ecdsa.PrivateKey) (*VAPIDKey, error) {
	scalar, err := priv.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadVAPIDKey, err)
	}
	point, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadVAPIDKey, err)
	}
	return &VAPIDKey{
		priv:       priv,
		privString: base64.RawURLEncoding.EncodeToString(scalar),
		pubString:  base64.RawURLEncoding.EncodeToString(point),
	}, nil
}

// Marshal returns the private key (a version byte, then the 32-byte
// scalar). It is a secret: the caller seals it before storing it.
func (k *VAPIDKey) Marshal() []byte {
	scalar, _ := k.priv.Bytes() // checked in newVAPIDKey
	return append([]byte{vapidVersion}, scalar...)
}

// Public returns the public key as unpadded base64url of the uncompressed
// P-256 point: the value of ISUPPORT VAPID= and the WEBPUSH VAPIDPUBKEY
// reply, and what a browser passes as applicationServerKey.
func (k *VAPIDKey) Public() string { return k.pubString }

// PublicKey returns the public half, for verifying what the key signed.
func (k *VAPIDKey) PublicKey() *ecdsa.PublicKey { return &k.priv.PublicKey }
