package main

// A real ACME CA for the ACME tests: Debian's pebble on loopback ports,
// with its validation authority resolving every name to 127.0.0.1
// through a small DNS responder, so it validates challenges against the
// daemon under test. Validation is real: PEBBLE_VA_ALWAYS_VALID is never
// set.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"securechat/store/redistest"
)

// pebble is one running Pebble.
type pebble struct {
	t         *testing.T
	cmd       *exec.Cmd
	exited    chan struct{}
	log       *logBuffer
	directory string       // ACME directory URL
	mgmt      string       // management API base URL
	caFile    string       // PEM trust anchor for Pebble's own HTTPS listeners
	client    *http.Client // trusts caFile
}

// pebbleSpec names the ports Pebble's validation authority connects to
// on the name being validated: TLS-ALPN-01 on tlsPort, HTTP-01 on
// httpPort. validity, if set, is how long its certificates last.
type pebbleSpec struct {
	tlsPort, httpPort int
	validity          time.Duration
}

// startPebble runs Pebble until the test ends and waits for its directory.
func startPebble(t *testing.T, spec pebbleSpec) *pebble {
	t.Helper()
	bin := lookTool(t, "pebble")
	dir := t.TempDir()
	p := &pebble{t: t, exited: make(chan struct{}), log: &logBuffer{}}
	ca := newTestCA(t, dir, "pebble-api-ca")
	certFile, keyFile := ca.issue(t, dir, "pebble-api")
	p.caFile = ca.certFile
	listen, mgmt := freeAddr(t), freeAddr(t)
	p.directory, p.mgmt = "https://"+listen+"/dir", "https://"+mgmt
	settings := map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": spec.httpPort, "tlsPort": spec.tlsPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
	}
	if spec.validity > 0 {
		settings["certificateValidityPeriod"] = int(spec.validity.Seconds())
	}
	conf, err := json.Marshal(map[string]any{"pebble": settings})
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "pebble-config.json")
	writeFile(t, confFile, string(conf), 0o600)
	p.cmd = exec.Command(bin, "-config", confFile, "-dnsserver", startDNS(t))
	// No random sleep before validating and no nonces rejected on
	// purpose: the test is about the daemon, not about client retries.
	p.cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start pebble: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("pebble's log:\n%s", p.log.String())
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	p.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}}}
	p.waitReady()
	return p
}

// waitReady polls the directory until Pebble answers.
func (p *pebble) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := p.client.Get(p.directory); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			p.t.Fatalf("pebble exited:\n%s", p.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("pebble did not serve %s within 20s:\n%s", p.directory, p.log.String())
		}
	}
}

// stop ends Pebble if it still runs.
func (p *pebble) stop() { killProcess(p.cmd, p.exited) }

// trustEnv makes a Go child process (the daemon) trust Pebble's HTTPS
// listeners, as an operator of a private CA would.
func (p *pebble) trustEnv() string { return "SSL_CERT_FILE=" + p.caFile }

// roots fetches the root that Pebble issues under, from its management
// API: the one a client must trust to verify the daemon's certificate.
func (p *pebble) roots() *x509.CertPool {
	p.t.Helper()
	resp, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		p.t.Fatalf("fetching pebble's root: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		p.t.Fatalf("fetching pebble's root: %v, status %d", err, resp.StatusCode)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(body) {
		p.t.Fatalf("pebble's root is not PEM: %q", body)
	}
	return pool
}

// freeAddr returns a loopback address whose port was free a moment ago,
// for programs that must be told their ports before they start.
func freeAddr(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.FreePort(t)))
}

// startDNS serves DNS over UDP on a free loopback port until the test
// ends and returns its address. Every A query gets 127.0.0.1 and every
// other query an empty answer, so any name is the daemon on loopback.
func startDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp, err := dnsAnswer(buf[:n]); err == nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// dnsAnswer builds the reply to one query.
func dnsAnswer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if q.Type == dnsmessage.TypeA {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		if err := b.AResource(rh, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// httpsClient is an HTTP client (HTTP/2 when the server offers it) with
// conf that reports redirects instead of following them.
func httpsClient(conf *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // the tests look at redirects themselves
		},
	}
}
