// Package pushtest is a push service for tests: a real HTTP listener on
// loopback that records what it receives, and a subscriber that holds
// the private key and auth secret a browser would, so a test can decrypt
// a push (RFC 8291) and verify its VAPID signature (RFC 8292) as a phone
// and a push service would. It is shared by the push package's tests and
// the server's.
package pushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"securechat/ircd/push"
)

// Subscriber is a browser's side of a subscription: the private ECDH key
// and auth secret that only it holds.
type Subscriber struct {
	Priv *ecdh.PrivateKey
	Auth []byte
	Sub  push.Subscription
	// Keys is the <keys> parameter of WEBPUSH REGISTER for it.
	Keys string
}

// NewSubscriber makes fresh keys for a subscription to endpoint.
func NewSubscriber(t testing.TB, endpoint string) *Subscriber {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	keys := "p256dh=" + B64(priv.PublicKey().Bytes()) + ";auth=" + B64(auth)
	sub, err := push.ParseSubscription(endpoint, keys)
	if err != nil {
		t.Fatalf("ParseSubscription(%q, %q): %v", endpoint, keys, err)
	}
	return &Subscriber{Priv: priv, Auth: auth, Sub: sub, Keys: keys}
}

// B64 is unpadded base64url, the encoding of subscription keys.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Received is one request as the push service saw it.
type Received struct {
	Path   string
	Header http.Header
	Body   []byte
}

// Service is a push service on a real loopback HTTP listener. It answers
// every request with its status and reports it on Got.
type Service struct {
	Srv    *httptest.Server
	Got    chan Received
	status atomic.Int32
	hold   chan struct{} // when non-nil, requests wait for it to close
}

// NewService starts a push service answering status, closed when the
// test ends.
func NewService(t testing.TB, status int) *Service { return StartService(t, status, nil) }

// StartService is NewService whose requests, when hold is not nil, wait
// for hold to close before they are answered.
func StartService(t testing.TB, status int, hold chan struct{}) *Service {
	t.Helper()
	ps := &Service{Got: make(chan Received, 64), hold: hold}
	ps.status.Store(int32(status))
	ps.Srv = httptest.NewServer(http.HandlerFunc(ps.serve))
	t.Cleanup(ps.Srv.Close)
	return ps
}

// SetStatus changes the status later requests are answered with.
func (ps *Service) SetStatus(status int) { ps.status.Store(int32(status)) }

func (ps *Service) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ps.Got <- Received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	if ps.hold != nil {
		<-ps.hold
	}
	status := int(ps.status.Load())
	if status/100 == 3 {
		w.Header().Set("Location", "/moved")
	}
	w.WriteHeader(status)
}

// Endpoint is a subscription URL on the service: an unguessable path, as
// real push services hand out.
func (ps *Service) Endpoint() string {
	tok := make([]byte, 12)
	rand.Read(tok)
	return ps.Srv.URL + "/push/" + B64(tok)
}

// Next waits for the next request.
func (ps *Service) Next(t testing.TB) Received {
	t.Helper()
	select {
	case r := <-ps.Got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("push service received nothing")
		return Received{}
	}
}

// None checks that no request is waiting.
func (ps *Service) None(t testing.TB) {
	t.Helper()
	select {
	case r := <-ps.Got:
		t.Fatalf("push service received an unexpected request for %s", r.Path)
	default:
	}
}

// Decrypt opens an aes128gcm body (RFC 8188) with the subscriber's keys
// as RFC 8291 §3 derives them, and strips the padding.
func (s *Subscriber) Decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the aes128gcm header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if len(body) < 21+idlen {
		return nil, errors.New("key id runs past the body")
	}
	keyid, record := body[21:21+idlen], body[21+idlen:]
	if uint32(len(record)) > rs {
		return nil, fmt.Errorf("record of %d bytes exceeds rs %d: more than one record", len(record), rs)
	}
	serverPub, err := ecdh.P256().NewPublicKey(keyid)
	if err != nil {
		return nil, fmt.Errorf("key id is not the server's P-256 key: %w", err)
	}
	shared, err := s.Priv.ECDH(serverPub)
	if err != nil {
		return nil, err
	}
	prkKey, _ := hkdf.Extract(sha256.New, shared, s.Auth)
	keyInfo := "WebPush: info\x00" + string(s.Priv.PublicKey().Bytes()) + string(keyid)
	ikm, _ := hkdf.Expand(sha256.New, prkKey, keyInfo, 32)
	prk, _ := hkdf.Extract(sha256.New, ikm, salt)
	cek, _ := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, record, nil)
	if err != nil {
		return nil, fmt.Errorf("open record: %w", err)
	}
	return unpad(plain)
}

// unpad strips the zero padding and the delimiter, 2 for the last record.
func unpad(plain []byte) ([]byte, error) {
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, errors.New("record lacks the last-record delimiter")
	}
	return plain[:i], nil
}

// Claims are the JWT claims RFC 8292 §2 requires.
type Claims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

// CheckVAPID verifies an Authorization header as a push service would
// (RFC 8292): scheme vapid, k the server's public key (as ISUPPORT VAPID=
// gives it), t a JWT signed with it by ES256, for the endpoint's origin,
// expiring within a day.
func CheckVAPID(header, publicKey, origin string) (Claims, error) {
	params, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return Claims{}, fmt.Errorf("scheme is not vapid: %q", header)
	}
	var tok, k string
	for p := range strings.SplitSeq(params, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "t":
			tok = value
		case "k":
			k = value
		}
	}
	if k != publicKey {
		return Claims{}, fmt.Errorf("k=%q, want the server's key %q", k, publicKey)
	}
	rawKey, _ := base64.RawURLEncoding.DecodeString(k)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), rawKey)
	if err != nil {
		return Claims{}, fmt.Errorf("k: %w", err)
	}
	claims, err := verifyES256(tok, pub)
	if err != nil {
		return Claims{}, err
	}
	now := time.Now().Unix()
	switch {
	case claims.Aud != origin:
		return claims, fmt.Errorf("aud %q, want %q", claims.Aud, origin)
	case claims.Exp <= now || claims.Exp > now+24*3600:
		return claims, fmt.Errorf("exp %d is not within a day from now (%d)", claims.Exp, now)
	}
	return claims, nil
}

// verifyES256 checks a compact JWS signed with ECDSA P-256 and SHA-256
// (RFC 7518 §3.4: the signature is r and s, 32 bytes each) and returns its
// claims.
func verifyES256(tok string, pub *ecdsa.PublicKey) (Claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return Claims{}, fmt.Errorf("JWT has %d parts", len(parts))
	}
	var hdr struct{ Alg, Typ string }
	if err := decodeJSON(parts[0], &hdr); err != nil || hdr.Alg != "ES256" {
		return Claims{}, fmt.Errorf("JWT header %+v, %v: want alg ES256", hdr, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return Claims{}, fmt.Errorf("signature of %d bytes, %v", len(sig), err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return Claims{}, errors.New("JWT signature does not verify with the VAPID key")
	}
	var claims Claims
	return claims, decodeJSON(parts[1], &claims)
}

func decodeJSON(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
