package push_test

import (
	"context"
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
	"testing"
	"time"

	"securechat/ircd/push"
)

// subscriber is a browser's side of a subscription: the private ECDH key
// and auth secret that only it holds, so the test can decrypt what the
// push service receives as a phone would.
type subscriber struct {
	priv *ecdh.PrivateKey
	auth []byte
	sub  push.Subscription
}

func newSubscriber(t *testing.T, endpoint string) *subscriber {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	keys := "p256dh=" + b64(priv.PublicKey().Bytes()) + ";auth=" + b64(auth)
	sub, err := push.ParseSubscription(endpoint, keys)
	if err != nil {
		t.Fatalf("ParseSubscription(%q, %q): %v", endpoint, keys, err)
	}
	return &subscriber{priv: priv, auth: auth, sub: sub}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// received is one request as the push service saw it.
type received struct {
	path   string
	header http.Header
	body   []byte
}

// pushService is a push service on a real loopback HTTP listener. It
// answers every request with status and reports it on got.
type pushService struct {
	srv    *httptest.Server
	status int
	got    chan received
	hold   chan struct{} // when non-nil, requests wait for it to close
}

func newPushService(t *testing.T, status int) *pushService {
	t.Helper()
	return startPushService(t, status, nil)
}

func startPushService(t *testing.T, status int, hold chan struct{}) *pushService {
	t.Helper()
	ps := &pushService{status: status, got: make(chan received, 64), hold: hold}
	ps.srv = httptest.NewServer(http.HandlerFunc(ps.serve))
	t.Cleanup(ps.srv.Close)
	return ps
}

func (ps *pushService) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ps.got <- received{path: r.URL.Path, header: r.Header.Clone(), body: body}
	if ps.hold != nil {
		<-ps.hold
	}
	if ps.status/100 == 3 {
		w.Header().Set("Location", "/moved")
	}
	w.WriteHeader(ps.status)
}

// stalled starts a push service that answers nothing until the test
// ends, a subscriber on it and a sender with cfg.
func stalled(t *testing.T, cfg push.Config) (*pushService, *subscriber, *push.Sender) {
	t.Helper()
	hold := make(chan struct{})
	ps := startPushService(t, http.StatusCreated, hold)
	sub := newSubscriber(t, ps.endpoint())
	s := newSender(t, newVAPIDKey(t), cfg)
	t.Cleanup(func() { close(hold) }) // runs first: the sender's Close waits for its sends
	return ps, sub, s
}

// endpoint is a subscription URL on the service: an unguessable path, as
// real push services hand out.
func (ps *pushService) endpoint() string {
	tok := make([]byte, 12)
	rand.Read(tok)
	return ps.srv.URL + "/push/" + b64(tok)
}

// next waits for the next request.
func (ps *pushService) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-ps.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("push service received nothing")
		return received{}
	}
}

// none checks that no request is waiting.
func (ps *pushService) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-ps.got:
		t.Fatalf("push service received an unexpected request for %s", r.path)
	default:
	}
}

// decrypt opens an aes128gcm body (RFC 8188) with the subscriber's keys
// as RFC 8291 §3 derives them, and strips the padding.
func (s *subscriber) decrypt(body []byte) ([]byte, error) {
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
	shared, err := s.priv.ECDH(serverPub)
	if err != nil {
		return nil, err
	}
	prkKey, _ := hkdf.Extract(sha256.New, shared, s.auth)
	keyInfo := "WebPush: info\x00" + string(s.priv.PublicKey().Bytes()) + string(keyid)
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

// vapidClaims are the JWT claims RFC 8292 §2 requires.
type vapidClaims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

// checkVAPID verifies an Authorization header as a push service would
// (RFC 8292): scheme vapid, k the server's public key, t a JWT signed
// with it by ES256, for the endpoint's origin, expiring within a day.
func checkVAPID(header string, key *push.VAPIDKey, origin string) (vapidClaims, error) {
	params, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return vapidClaims{}, fmt.Errorf("scheme is not vapid: %q", header)
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
	if k != key.Public() {
		return vapidClaims{}, fmt.Errorf("k=%q, want the server's key %q", k, key.Public())
	}
	rawKey, _ := base64.RawURLEncoding.DecodeString(k)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), rawKey)
	if err != nil {
		return vapidClaims{}, fmt.Errorf("k: %w", err)
	}
	claims, err := verifyES256(tok, pub)
	if err != nil {
		return vapidClaims{}, err
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
func verifyES256(tok string, pub *ecdsa.PublicKey) (vapidClaims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return vapidClaims{}, fmt.Errorf("JWT has %d parts", len(parts))
	}
	var hdr struct{ Alg, Typ string }
	if err := decodeJSON(parts[0], &hdr); err != nil || hdr.Alg != "ES256" {
		return vapidClaims{}, fmt.Errorf("JWT header %+v, %v: want alg ES256", hdr, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return vapidClaims{}, fmt.Errorf("signature of %d bytes, %v", len(sig), err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return vapidClaims{}, errors.New("JWT signature does not verify with the VAPID key")
	}
	var claims vapidClaims
	return claims, decodeJSON(parts[1], &claims)
}

func decodeJSON(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// newSender starts a sender for a loopback push service and closes it
// when the test ends.
func newSender(t *testing.T, key *push.VAPIDKey, cfg push.Config) *push.Sender {
	t.Helper()
	cfg.Key = key
	if cfg.Subject == "" {
		cfg.Subject = "mailto:ops@example.com"
	}
	cfg.AllowInternal = true
	s, err := push.NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func newVAPIDKey(t *testing.T) *push.VAPIDKey {
	t.Helper()
	k, err := push.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
