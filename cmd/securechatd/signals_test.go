package main

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMTellsClientsAndExits checks a SIGTERM with clients connected:
// each is told why it is being dropped, and the process exits 0 promptly.
func TestSIGTERMTellsClientsAndExits(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword)})
	alice, _ := d.register("alice", roomPassword)
	bob, _ := d.register("bob", roomPassword)
	alice.JoinAndSync("#bye")
	unregistered := d.dial()
	unregistered.Send("NICK lurker")
	unregistered.Sync()

	start := time.Now()
	d.signal(syscall.SIGTERM)
	for _, c := range []*client{alice, bob, unregistered} {
		lines := c.ExpectClosed()
		if !containsMatch(lines, `^ERROR :.*Server shutting down`) {
			t.Errorf("%s got %q, want ERROR :...Server shutting down...", c.Nick, lines)
		}
	}
	if code := d.wait(5 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0\n%s", code, d.stderr.String())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown took %v", took)
	}
	if _, err := net.DialTimeout("tcp", d.addr, time.Second); err == nil {
		t.Errorf("TLS port still accepts connections after exit")
	}
}

// TestSIGHUPReloads changes the MOTD file and the certificate files named
// in a config file, sends SIGHUP, and checks that a connected client stays
// connected while new connections see the new MOTD and certificate. A
// broken config on a later SIGHUP is refused and the running one kept.
func TestSIGHUPReloads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	motd := filepath.Join(dir, "motd.txt")
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	conf := filepath.Join(dir, "securechatd.conf")
	writeFile(t, motd, "first motd of the day\n", 0o644)
	fp1 := writeCertPair(t, certFile, keyFile, "one.irc.test")
	goodConf := "motd-file = " + motd + "\ntls-cert = " + certFile + "\ntls-key = " + keyFile + "\n"
	writeFile(t, conf, goodConf, 0o644)

	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: []string{"--config=" + conf}})
	if d.fingerprint != fp1 {
		t.Fatalf("daemon logged %s, want the configured certificate %s", d.fingerprint, fp1)
	}
	old, burst := d.register("old", roomPassword)
	if !containsMatch(burst, ` 372 old :- first motd of the day$`) {
		t.Fatalf("MOTD before reload: %q", burst)
	}

	writeFile(t, motd, "second motd, after SIGHUP\n", 0o644)
	fp2 := writeCertPair(t, certFile, keyFile, "two.irc.test")
	d.signal(syscall.SIGHUP)
	d.waitLog(regexp.MustCompile(`msg="configuration reloaded" tls_sha256=`+fp2), 10*time.Second)

	old.Sync() // still connected and served
	if got := servedFingerprint(t, d.addr); got != fp2 {
		t.Errorf("after SIGHUP served %s, want the new certificate %s", got, fp2)
	}
	d.fingerprint = fp2
	fresh, burst := d.register("fresh", roomPassword)
	if !containsMatch(burst, ` 372 fresh :- second motd, after SIGHUP$`) || containsMatch(burst, `first motd`) {
		t.Errorf("MOTD after reload: %q", burst)
	}
	old.Send("MOTD")
	old.Expect(` 372 old :- second motd, after SIGHUP$`)

	// A broken file is refused; the daemon keeps running as it was.
	writeFile(t, conf, goodConf+"no-such-setting = 1\n", 0o644)
	d.signal(syscall.SIGHUP)
	d.waitLog(regexp.MustCompile(`msg="reload refused, keeping the running configuration".*unknown setting`), 10*time.Second)
	old.Sync()
	fresh.Sync()
	if got := servedFingerprint(t, d.addr); got != fp2 {
		t.Errorf("after a refused reload served %s, want %s", got, fp2)
	}
	d.stop()
}

// writeCertPair writes a new self-signed ECDSA pair for name and returns
// its fingerprint in the daemon's format.
func writeCertPair(t *testing.T, certFile, keyFile, name string) string {
	t.Helper()
	der, key := newCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		DNSNames:    []string{name},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, nil)
	writeCertFiles(t, certFile, keyFile, der, key)
	return fingerprintOf(der)
}
