package main

import (
	"crypto/tls"
	"crypto/x509"
	"io/fs"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"securechat/ircd/irctest"
)

// acmeDomain is the name the tests obtain certificates for; the tests'
// DNS responder sends Pebble to loopback for it.
const acmeDomain = "chat.securechat.test"

// acmeResultRe matches the daemon's log line on obtaining its certificate
// (with the fingerprint) or failing to.
var acmeResultRe = regexp.MustCompile(`msg="ACME certificate (?:ready" domain=\S+ not_after=\S+ sha256=([0-9A-F:]{95})|not obtained)`)

// acmeWait is how long issuance may take: an order, one validation and
// a finalization against a CA on loopback.
const acmeWait = 60 * time.Second

// startACMEDaemon runs the daemon with ACME against ca and waits until it
// has its certificate; it returns the daemon and the fingerprint logged.
func startACMEDaemon(t *testing.T, ca *pebble, dataDir string, args ...string) (*running, string) {
	t.Helper()
	args = append([]string{"--acme-domain=" + acmeDomain, "--acme-directory=" + ca.directory,
		"--acme-email=ops@securechat.test"}, args...)
	d := startDaemon(t, daemonSpec{dataDir: dataDir, env: append(passwordEnv(roomPassword), ca.trustEnv()), args: args})
	if d.fingerprint != "" {
		t.Errorf("daemon logged a fingerprint to pin (%s) although its certificate comes from ACME", d.fingerprint)
	}
	fp := d.waitLog(acmeResultRe, acmeWait)[1]
	if fp == "" {
		t.Fatalf("no ACME certificate:\n%s", d.stderr.String())
	}
	return d, fp
}

// verifiedWelcome connects to the IRC TLS port as a phone would, verifying
// the certificate against roots for acmeDomain, logs in and requires the
// welcome. It offers the "irc" ALPN protocol, as some clients do, which
// the daemon must not refuse for lack of a match. It returns the
// fingerprint of the certificate served.
func verifiedWelcome(t *testing.T, d *running, roots *x509.CertPool) string {
	t.Helper()
	c := irctest.DialTLS(t, d.addr, &tls.Config{RootCAs: roots, ServerName: acmeDomain, NextProtos: []string{"irc"}})
	c.ExpectTimeout = expectTimeout
	welcome := strings.Join(c.RegisterSASL("phone", roomPassword), "\n")
	if !strings.Contains(welcome, " 001 phone ") {
		t.Fatalf("no welcome over the verified connection:\n%s", welcome)
	}
	return fingerprintOf(c.Conn().(*tls.Conn).ConnectionState().PeerCertificates[0].Raw)
}

// TestACMETLSALPN01 obtains a certificate from Pebble through TLS-ALPN-01
// on the IRC TLS port (no HTTP-01 listener exists), then checks that an
// IRC client verifying against Pebble's root gets the welcome, that the
// HTTPS listener still speaks HTTP/2 and WebSocket with the same
// certificate, that the cache is private, and that a restart serves the
// cached certificate without the CA.
func TestACMETLSALPN01(t *testing.T) {
	t.Parallel()
	ircAddr := freeAddr(t)
	ca := startPebble(t, pebbleSpec{tlsPort: portOf(t, ircAddr), httpPort: portOf(t, freeAddr(t))})
	dataDir := t.TempDir()
	d, logged := startACMEDaemon(t, ca, dataDir, "--listen="+ircAddr, "--web-listen=127.0.0.1:0")
	roots := ca.roots()
	if served := verifiedWelcome(t, d, roots); served != logged {
		t.Errorf("served certificate %s, daemon logged %s", served, logged)
	}
	checkWebWithACME(t, d, &tls.Config{RootCAs: roots, ServerName: acmeDomain})
	checkACMECachePrivate(t, filepath.Join(dataDir, "acme"))
	d.stop()

	ca.stop() // the cached certificate must not need the CA
	again, cached := startACMEDaemon(t, ca, dataDir)
	if cached != logged {
		t.Errorf("restart served %s, want the cached %s", cached, logged)
	}
	if served := verifiedWelcome(t, again, roots); served != logged {
		t.Errorf("after restart served %s, want the cached %s", served, logged)
	}
}

// TestACMETLSALPN01OnWebListener has Pebble validate on the HTTPS
// listener, whose http.Server adds h2 and http/1.1 to the TLS settings:
// the way to use port 443 for TLS-ALPN-01 while IRC stays on 6697.
func TestACMETLSALPN01OnWebListener(t *testing.T) {
	t.Parallel()
	webAddr := freeAddr(t)
	ca := startPebble(t, pebbleSpec{tlsPort: portOf(t, webAddr), httpPort: portOf(t, freeAddr(t))})
	d, logged := startACMEDaemon(t, ca, "", "--web-listen="+webAddr)
	conf := &tls.Config{RootCAs: ca.roots(), ServerName: acmeDomain}
	checkWebWithACME(t, d, conf)
	if served := verifiedWelcome(t, d, conf.RootCAs); served != logged {
		t.Errorf("served certificate %s, daemon logged %s", served, logged)
	}
}

// TestACMERenews: with certificates that last 30 seconds, the daemon
// renews before expiry (autocert's default is at two thirds of the
// lifetime) and serves the new certificate without a restart.
func TestACMERenews(t *testing.T) {
	t.Parallel()
	ircAddr := freeAddr(t)
	ca := startPebble(t, pebbleSpec{tlsPort: portOf(t, ircAddr), httpPort: portOf(t, freeAddr(t)), validity: 30 * time.Second})
	d, first := startACMEDaemon(t, ca, "", "--listen="+ircAddr)
	roots := ca.roots()
	deadline := time.Now().Add(acmeWait)
	for servedFingerprint(t, d.addr) == first {
		if time.Now().After(deadline) {
			t.Fatalf("certificate %s still served after %v; no renewal\n%s", first, acmeWait, d.stderr.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	if renewed := verifiedWelcome(t, d, roots); renewed == first {
		t.Errorf("verified connection still got the first certificate %s", first)
	}
}

// TestACMEHTTP01 obtains a certificate through HTTP-01 on
// --acme-http-listen. Pebble's TLS-ALPN-01 port has no listener, so only
// HTTP-01 can succeed. Other requests there are sent to https.
func TestACMEHTTP01(t *testing.T) {
	t.Parallel()
	httpAddr := freeAddr(t)
	ca := startPebble(t, pebbleSpec{tlsPort: portOf(t, freeAddr(t)), httpPort: portOf(t, httpAddr)})
	d, logged := startACMEDaemon(t, ca, "", "--acme-http-listen="+httpAddr)
	if served := verifiedWelcome(t, d, ca.roots()); served != logged {
		t.Errorf("served certificate %s, daemon logged %s", served, logged)
	}
	resp, err := httpsClient(nil).Get("http://" + httpAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "https://") {
		t.Errorf("GET / on the HTTP-01 listener: %d to %q, want 302 to https", resp.StatusCode, loc)
	}
}

// TestACMEWithCertFilesRefused: ACME and certificate files together are
// refused before anything starts, naming both.
func TestACMEWithCertFilesRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	r := runTool(t, "", passwordEnv(roomPassword), "--data-dir="+dir, "--acme-domain="+acmeDomain,
		"--tls-cert="+cert, "--tls-key="+key)
	if r.code != 2 || !strings.Contains(r.stderr, "acme-domain: cannot be combined with tls-cert/tls-key") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 naming acme-domain and tls-cert/tls-key", r.code, r.stderr)
	}
}

// checkWebWithACME checks that the HTTPS listener serves the ACME
// certificate to an HTTP/2 client and to IRC over WebSocket.
func checkWebWithACME(t *testing.T, d *running, conf *tls.Config) {
	t.Helper()
	web := d.waitLog(webListeningRe, 10*time.Second)[1]
	resp, err := httpsClient(conf).Get("https://" + web + "/")
	if err != nil {
		t.Fatalf("HTTPS with the ACME certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("GET / = %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	ws, _ := irctest.DialWebSocket(t, "wss://"+web+"/ws", irctest.WebSocketOptions{TLS: conf})
	ws.ExpectTimeout = expectTimeout
	ws.RegisterSASL("browser", roomPassword)
}

// checkACMECachePrivate requires the cache directory to be 0700 and each
// file in it (account key, certificate and its key) 0600.
func checkACMECachePrivate(t *testing.T, dir string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if e.IsDir() {
			want = fs.ModeDir | 0o700
		} else {
			files++
		}
		if info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 2 { // the account key and the certificate at least
		t.Errorf("ACME cache %s holds %d files, want the account key and the certificate", dir, files)
	}
}
