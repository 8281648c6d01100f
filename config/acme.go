package config

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// acmeCacheDir is autocert's cache inside DataDir: the ACME account key
// and each certificate with its private key, one file each. autocert
// writes them through temporary files (mode 0600) and renames them.
const acmeCacheDir = "acme"

// acmeCerts obtains and renews the certificate for one domain from an
// ACME CA. autocert does the work: the first handshake (or obtain, at
// start) fetches the certificate, and a timer renews it 30 days before
// it expires. It is safe for concurrent use.
type acmeCerts struct {
	m   *autocert.Manager
	set acmeSettings
}

// acmeSettings are the settings an ACME manager was built from. A reload
// cannot change them: the manager, its account and its listener stay.
type acmeSettings struct {
	domain, directory, email, httpListen string
}

// acmeSettingsOf returns cfg's ACME settings, all empty without ACME.
func acmeSettingsOf(cfg *Config) acmeSettings {
	if cfg.ACMEDomain == "" {
		return acmeSettings{}
	}
	return acmeSettings{cfg.ACMEDomain, cfg.ACMEDirectory, cfg.ACMEEmail, cfg.ACMEHTTPListen}
}

// newACME builds the manager for cfg.ACMEDomain with its cache in
// DataDir. Prompt accepts the CA's terms of service, which is what the
// operator asks for by naming a domain.
func newACME(cfg *Config) (*acmeCerts, error) {
	dir := filepath.Join(cfg.DataDir, acmeCacheDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("acme: creating %s: %w", dir, err)
	}
	// MkdirAll leaves an existing directory's mode alone, and this one
	// holds private keys.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(dir),
		HostPolicy: autocert.HostWhitelist(cfg.ACMEDomain),
		Email:      cfg.ACMEEmail,
		Client:     &acme.Client{DirectoryURL: cfg.ACMEDirectory},
	}
	return &acmeCerts{m: m, set: acmeSettingsOf(cfg)}, nil
}

// sameSettings refuses a reload that would turn ACME on or off or change
// its settings; a is nil when the daemon runs without ACME.
func (a *acmeCerts) sameSettings(cfg *Config) error {
	var running acmeSettings
	if a != nil {
		running = a.set
	}
	if acmeSettingsOf(cfg) != running {
		return errors.New("acme-domain/acme-directory/acme-email/acme-http-listen: changes take effect at restart")
	}
	return nil
}

// configure makes tc serve ACME certificates. A TLS-ALPN-01 validation
// (a hello offering only acme-tls/1) gets a configuration of its own whose
// NextProtos is acme-tls/1, because crypto/tls refuses a client whose ALPN
// list shares nothing with the server's. Every other hello keeps tc as it
// is: IRC clients that offer some other protocol, or none, are not
// refused, and the HTTPS listener still adds h2 and http/1.1 itself.
func (a *acmeCerts) configure(tc *tls.Config) {
	challenge := tc.Clone()
	challenge.NextProtos = []string{acme.ALPNProto}
	challenge.GetCertificate = a.m.GetCertificate
	tc.GetCertificate = a.getCertificate
	tc.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto {
			return challenge, nil
		}
		return nil, nil
	}
}

// getCertificate serves the domain's certificate whatever name the
// client asked for: a client that sent no SNI or an address would
// otherwise fail the handshake with an alert it reports as a TLS error,
// where the domain's certificate lets it say which name it expected.
func (a *acmeCerts) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if !strings.EqualFold(strings.TrimSuffix(hello.ServerName, "."), a.set.domain) {
		h := *hello
		h.ServerName = a.set.domain
		hello = &h
	}
	return a.m.GetCertificate(hello)
}

// StartACME serves HTTP-01 challenges on acme-http-listen, if set, and
// starts obtaining the certificate in the background, so the first user
// does not wait for the CA and a problem shows in the log at once. It
// does nothing without ACME. stop closes the challenge listener.
func (c *Certificates) StartACME(log *slog.Logger) (stop func(context.Context) error, err error) {
	a := c.acme
	stop = func(context.Context) error { return nil }
	if a == nil {
		return stop, nil
	}
	if a.set.httpListen != "" {
		ln, err := net.Listen("tcp", a.set.httpListen)
		if err != nil {
			return nil, fmt.Errorf("acme-http-listen: %w", err)
		}
		// HTTPHandler also tells the manager to offer HTTP-01, so it must
		// run before obtain; other requests are redirected to https.
		hs := &http.Server{
			Handler:           withoutPort(a.m.HTTPHandler(nil)),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		log.Info("ACME HTTP-01 listening", "addr", ln.Addr().String())
		go func() { _ = hs.Serve(ln) }()
		stop = hs.Shutdown
	}
	go a.obtain(log)
	return stop, nil
}

// withoutPort drops the port from a request's Host before h sees it.
// autocert checks Host against the domain, and a CA that validates on a
// port other than 80, as a test CA does, sends Host with that port,
// which is not part of the name.
func withoutPort(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r.Host = host
		}
		h.ServeHTTP(w, r)
	})
}

// obtain fetches (or loads from the cache) the domain's ECDSA
// certificate, the kind every current client takes. A failure is only
// logged: each handshake tries again.
func (a *acmeCerts) obtain(log *slog.Logger) {
	hello := &tls.ClientHelloInfo{
		ServerName:       a.set.domain,
		CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:  []tls.CurveID{tls.CurveP256},
	}
	cert, err := a.m.GetCertificate(hello)
	if err != nil {
		log.Error("ACME certificate not obtained; handshakes will retry", "domain", a.set.domain, "err", err)
		return
	}
	log.Info("ACME certificate ready", "domain", a.set.domain,
		"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339), "sha256", fingerprint(cert.Certificate[0]))
}
