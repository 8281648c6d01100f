package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestSelfSignedGeneratedOnce(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	first, err := NewCertificates(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(cfg.DataDir, "tls-key.pem")
	assertMode(t, keyFile, 0o600)
	again, err := NewCertificates(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if first.Fingerprint() != again.Fingerprint() {
		t.Errorf("restart changed the fingerprint: %s then %s", first.Fingerprint(), again.Fingerprint())
	}
	if err := first.Reload(); err != nil || first.Fingerprint() != again.Fingerprint() {
		t.Errorf("Reload of the unchanged pair: %v, fingerprint %s", err, first.Fingerprint())
	}
}

func TestSelfSignedNames(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.DataDir, cfg.ServerName = t.TempDir(), "irc.example.org"
	if _, err := NewCertificates(&cfg); err != nil {
		t.Fatal(err)
	}
	leaf := readLeaf(t, filepath.Join(cfg.DataDir, "tls-cert.pem"))
	for _, host := range []string{"irc.example.org", "localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("certificate does not cover %s: %v", host, err)
		}
	}
	if leaf.NotAfter.Sub(leaf.NotBefore) < selfSignedValidity {
		t.Errorf("validity %v shorter than %v", leaf.NotAfter.Sub(leaf.NotBefore), selfSignedValidity)
	}
}

func TestFingerprintFormat(t *testing.T) {
	t.Parallel()
	c, dataDir := selfSigned(t)
	fp := c.Fingerprint()
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Fatalf("Fingerprint() = %q, want 32 colon-separated upper-case hex bytes", fp)
	}
	sum := sha256.Sum256(readLeaf(t, filepath.Join(dataDir, "tls-cert.pem")).Raw)
	if want := strings.ToUpper(fmt.Sprintf("%x", sum[:])); strings.ReplaceAll(fp, ":", "") != want {
		t.Errorf("Fingerprint() = %s, want SHA-256 of the leaf %s", fp, want)
	}
}

func TestReloadSwapsPair(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := Defaults()
	cfg.TLSCert, cfg.TLSKey = writePair(t, dir, "server")
	c, err := NewCertificates(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := c.TLSConfig() // taken once, like a listener started before SIGHUP
	before := c.Fingerprint()
	if got := handshakeFingerprint(t, srv); got != before {
		t.Fatalf("handshake served %s, want %s", got, before)
	}

	newCert, newKey := writePair(t, dir, "next")
	mustRename(t, newKey, cfg.TLSKey)
	mustRename(t, newCert, cfg.TLSCert)
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	after := c.Fingerprint()
	if after == before {
		t.Fatal("Reload kept the old certificate")
	}
	if got := handshakeFingerprint(t, srv); got != after {
		t.Errorf("handshake after Reload served %s, want %s", got, after)
	}

	if err := os.WriteFile(cfg.TLSCert, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err == nil || c.Fingerprint() != after {
		t.Errorf("a broken file must fail Reload (%v) and keep serving %s, not %s", err, after, c.Fingerprint())
	}
}

func TestReloadWithNewPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := Defaults()
	cfg.DataDir = dir
	c, err := NewCertificates(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	generated := c.Fingerprint()
	cfg.TLSCert, cfg.TLSKey = writePair(t, dir, "given")
	if err := c.ReloadWith(&cfg); err != nil || c.Fingerprint() == generated {
		t.Fatalf("ReloadWith given files: %v, fingerprint unchanged: %v", err, c.Fingerprint() == generated)
	}
	if err := c.Reload(); err != nil {
		t.Errorf("Reload after ReloadWith should re-read the given files: %v", err)
	}
}

func TestTLSConfig(t *testing.T) {
	t.Parallel()
	c, _ := selfSigned(t)
	tc := c.TLSConfig()
	if tc.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", tc.MinVersion)
	}
	for _, id := range tc.CipherSuites {
		name := tls.CipherSuiteName(id)
		if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")) {
			t.Errorf("cipher suite %s is not ECDHE with an AEAD", name)
		}
	}
	for _, curve := range tc.CurvePreferences {
		if !slices.Contains([]tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}, curve) {
			t.Errorf("unexpected curve %v", curve)
		}
	}
	client := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}
	if err := handshake(tc, client); err == nil {
		t.Error("a TLS 1.1 client was accepted")
	}
}

// handshakeFingerprint performs a handshake against srv and returns the
// fingerprint of the certificate it served.
func handshakeFingerprint(t *testing.T, srv *tls.Config) string {
	t.Helper()
	var fp string
	client := &tls.Config{
		InsecureSkipVerify: true, // the test pins by fingerprint, as users do
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			hex := make([]string, len(sum))
			for i, b := range sum {
				hex[i] = fmt.Sprintf("%02X", b)
			}
			fp = strings.Join(hex, ":")
			return nil
		},
	}
	if err := handshake(srv, client); err != nil {
		t.Fatal(err)
	}
	return fp
}

// handshake runs a TLS handshake over an in-memory pipe.
func handshake(srv, client *tls.Config) error {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		s := tls.Server(a, srv)
		done <- s.Handshake()
		s.Close()
	}()
	cerr := tls.Client(b, client).Handshake()
	b.Close()
	if serr := <-done; cerr == nil {
		return serr
	}
	return cerr
}

// selfSigned returns certificates generated into a fresh data dir.
func selfSigned(tb testing.TB) (*Certificates, string) {
	tb.Helper()
	cfg := Defaults()
	cfg.DataDir = tb.TempDir()
	c, err := NewCertificates(&cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c, cfg.DataDir
}

// readLeaf parses the first certificate in a PEM file.
func readLeaf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkTLSHandshake is the floor under a connect storm: one full TLS
// 1.3 handshake, client and server halves, against the daemon's own
// configuration and self-signed ECDSA certificate. Run it with -cpu 1, so
// ns/op is the CPU time the two halves spend together.
func BenchmarkTLSHandshake(b *testing.B) {
	certs, _ := selfSigned(b)
	srv := certs.TLSConfig()
	for _, group := range []tls.CurveID{tls.X25519MLKEM768, tls.X25519} {
		b.Run(group.String(), func(b *testing.B) {
			var got tls.CurveID
			client := &tls.Config{
				InsecureSkipVerify: true, // a benchmark, pinning nothing
				CurvePreferences:   []tls.CurveID{group},
				VerifyConnection:   func(cs tls.ConnectionState) error { got = cs.CurveID; return nil },
			}
			for b.Loop() {
				if err := handshake(srv, client); err != nil {
					b.Fatal(err)
				}
			}
			if got != group {
				b.Fatalf("negotiated %v, want %v", got, group)
			}
		})
	}
}
