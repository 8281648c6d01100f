package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Names of the self-signed pair inside DataDir.
const (
	generatedCertName = "tls-cert.pem"
	generatedKeyName  = "tls-key.pem"
)

// selfSignedValidity is long because users pin the self-signed certificate
// by fingerprint: every new certificate means every user re-pins, so it
// should change only when the operator deletes the pair on purpose.
const selfSignedValidity = 10 * 365 * 24 * time.Hour

// Certificates holds the server's current certificate and the files it was
// read from. It is safe for concurrent use: handshakes read the current
// pair through an atomic pointer while Reload swaps in a new one.
//
// With acme-domain set, acme serves certificates instead and cur stays
// empty; acme is set once by NewCertificates and never changes.
type Certificates struct {
	cur  atomic.Pointer[loadedPair]
	acme *acmeCerts
}

// loadedPair is one certificate together with the files it came from, so
// Reload knows what to re-read.
type loadedPair struct {
	cert              tls.Certificate
	certFile, keyFile string
}

// NewCertificates loads cfg.TLSCert and cfg.TLSKey, or, when both are
// empty, the self-signed pair in cfg.DataDir, generating it on first start
// and reusing it afterwards so its fingerprint stays pinned. A later change
// of ServerName does not regenerate it; delete the two files to rotate.
func NewCertificates(cfg *Config) (*Certificates, error) {
	c := &Certificates{}
	if cfg.ACMEDomain != "" {
		a, err := newACME(cfg)
		if err != nil {
			return nil, err
		}
		c.acme = a
		return c, nil
	}
	if err := c.ReloadWith(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload re-reads the certificate and key files, for SIGHUP. On error the
// current certificate stays in use.
func (c *Certificates) Reload() error {
	if c.acme != nil {
		return nil // autocert renews on its own
	}
	p := c.cur.Load()
	return c.load(p.certFile, p.keyFile)
}

// ReloadWith switches to the files named by cfg (generating the self-signed
// pair if cfg names none and it is missing), for a SIGHUP that also changed
// tls-cert or tls-key. On error the current certificate stays in use.
func (c *Certificates) ReloadWith(cfg *Config) error {
	if err := c.acme.sameSettings(cfg); err != nil || c.acme != nil {
		return err // ACME renews by itself; its settings wait for a restart
	}
	certFile, keyFile := cfg.TLSCert, cfg.TLSKey
	if certFile == "" && keyFile == "" {
		var err error
		if certFile, keyFile, err = ensureSelfSigned(cfg.DataDir, cfg.ServerName); err != nil {
			return err
		}
	}
	return c.load(certFile, keyFile)
}

// load reads a pair and makes it current.
func (c *Certificates) load(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("tls: loading %s and %s: %w", certFile, keyFile, err)
	}
	c.cur.Store(&loadedPair{cert: cert, certFile: certFile, keyFile: keyFile})
	return nil
}

// Fingerprint returns the SHA-256 of the current leaf certificate as
// colon-separated upper-case hex, the form irssi's tls_pinned_cert takes.
// WeeChat's tls_fingerprint wants the same digits without the colons.
// It is empty with ACME, whose certificates need no pinning.
func (c *Certificates) Fingerprint() string {
	p := c.cur.Load()
	if p == nil {
		return ""
	}
	return fingerprint(p.cert.Certificate[0])
}

// fingerprint formats the SHA-256 of a DER certificate as Fingerprint does.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hex, ":")
}

// TLSConfig returns a server configuration whose GetCertificate reads the
// current pair, so Reload applies to new handshakes on listeners that are
// already open. TLS 1.2 is the floor, and for 1.2 only forward-secret AEAD
// suites are offered (TLS 1.3 suites are all of that kind already).
func (c *Certificates) TLSConfig() *tls.Config {
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		// The hybrid post-quantum group comes first for TLS 1.3 clients
		// that offer it; it still includes X25519.
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		// Full-size records from the first byte: a client's welcome burst
		// (a few KiB, written at once) then travels in one record instead
		// of the small ones crypto/tls otherwise starts a connection with.
		DynamicRecordSizingDisabled: true,
	}
	if c.acme != nil {
		c.acme.configure(tc)
		return tc
	}
	tc.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return &c.cur.Load().cert, nil
	}
	return tc
}

// ensureSelfSigned returns the paths of the self-signed pair in dir,
// generating it if either half is missing (a half-written pair from a
// crash is useless, and nobody can have pinned a certificate without key).
func ensureSelfSigned(dir, serverName string) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, generatedCertName)
	keyFile = filepath.Join(dir, generatedKeyName)
	if exists(certFile) && exists(keyFile) {
		return certFile, keyFile, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("tls: creating data-dir: %w", err)
	}
	if err := writeSelfSigned(certFile, keyFile, serverName, time.Now()); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// exists reports whether path exists. Other errors count as existing so
// that loading reports them instead of a new pair overwriting the files.
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// writeSelfSigned creates an ECDSA P-256 certificate for serverName,
// localhost and the loopback addresses, and writes it and its key. The key
// is written first, so a crash in between leaves no certificate without
// its key.
func writeSelfSigned(certFile, keyFile, serverName string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tls: generating key: %w", err)
	}
	tmpl := selfSignedTemplate(serverName, now)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("tls: creating certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tls: encoding key: %w", err)
	}
	if err := writePEM(keyFile, "PRIVATE KEY", keyDER, 0o600); err != nil {
		return err
	}
	return writePEM(certFile, "CERTIFICATE", der, 0o644)
}

// selfSignedTemplate describes the generated certificate.
func selfSignedTemplate(serverName string, now time.Time) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	t := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: serverName},
		NotBefore:             now.Add(-time.Hour), // tolerate clients whose clock is a little behind
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(serverName); ip != nil {
		t.IPAddresses = append(t.IPAddresses, ip)
	} else if serverName != "localhost" {
		t.DNSNames = append([]string{serverName}, t.DNSNames...)
	}
	return t
}

// writePEM writes one PEM block to path through a temporary file and a
// rename, so readers never see a partial file.
func writePEM(path, blockType string, der []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("tls: writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	err = errors.Join(
		pem.Encode(tmp, &pem.Block{Type: blockType, Bytes: der}),
		tmp.Chmod(mode), // CreateTemp already uses 0600; this widens the certificate only
		tmp.Close(),
	)
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("tls: writing %s: %w", path, err)
	}
	return nil
}
