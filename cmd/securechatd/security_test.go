package main

// Security review of the defaults, against the real binary: TLS versions
// and suites, STS, secrets and message text kept out of logs, CR/LF
// injection, Redis over TLS with AUTH, and a loopback-only metrics port.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"gopkg.in/irc.v4"

	"securechat/config"
	"securechat/ircd/irctest"
	"securechat/store/redistest"
)

// dialTLS connects to addr with conf (verification off: these tests look
// at the protocol, the pinned fingerprint is checked elsewhere).
func dialTLS(addr string, conf *tls.Config) (*tls.Conn, error) {
	conf.InsecureSkipVerify = true
	return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
}

// TestTLSVersionsAndSuites checks the TLS floor and what is negotiated:
// TLS 1.0 and 1.1 are refused, TLS 1.3 is the default, and TLS 1.2 gets
// only forward-secret AEAD suites.
func TestTLSVersionsAndSuites(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword)})

	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := dialTLS(d.addr, &tls.Config{MinVersion: v, MaxVersion: v})
		if err == nil {
			conn.Close()
			t.Errorf("a %s client completed the handshake", tls.VersionName(v))
		} else if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("%s client: %v, want a protocol version alert", tls.VersionName(v), err)
		}
	}

	conn, err := dialTLS(d.addr, &tls.Config{})
	if err != nil {
		t.Fatalf("default client: %v", err)
	}
	if v := conn.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("default client negotiated %s, want TLS 1.3", tls.VersionName(v))
	}
	conn.Close()

	conn, err = dialTLS(d.addr, &tls.Config{MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 client: %v", err)
	}
	cs := conn.ConnectionState()
	conn.Close()
	name := tls.CipherSuiteName(cs.CipherSuite)
	if cs.Version != tls.VersionTLS12 || !regexp.MustCompile(`^TLS_ECDHE_(ECDSA|RSA)_WITH_(AES_\d+_GCM|CHACHA20_POLY1305)_SHA\d+$`).MatchString(name) {
		t.Errorf("TLS 1.2 client got %s with %s, want an ECDHE AEAD suite", tls.VersionName(cs.Version), name)
	}

	// A TLS 1.2 client offering only CBC or static-RSA suites is refused.
	weak := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	}
	if conn, err := dialTLS(d.addr, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: weak}); err == nil {
		t.Errorf("a client offering only CBC/static-RSA suites got %s", tls.CipherSuiteName(conn.ConnectionState().CipherSuite))
		conn.Close()
	}
}

// capLSLine sends CAP LS (302 or not) and returns the CAP LS reply,
// joining multiline replies.
func capLSLine(c *client, version string) string {
	c.T().Helper()
	c.Send("CAP LS%s", version)
	var caps []string
	for {
		m := c.Expect(`CAP \S+ LS `)
		more := len(m.Params) == 4 && m.Params[2] == "*"
		caps = append(caps, m.Trailing())
		if !more {
			return strings.Join(caps, " ")
		}
	}
}

// TestSTSAdvertised checks IRCv3 Strict Transport Security: with a
// plaintext listener, CAP LS there points at the TLS port, and on TLS it
// carries a duration; clients without CAP 302 get no capability values.
func TestSTSAdvertised(t *testing.T) {
	t.Parallel()
	plainAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.FreePort(t)))
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: []string{"--listen-plain=" + plainAddr}})
	d.waitLog(regexp.MustCompile(`msg=listening addr=\S+ tls=false`), 5*time.Second)

	plain := dialPlain(t, plainAddr)
	caps := capLSLine(plain, " 302")
	m := regexp.MustCompile(`(^| )sts=(\S+)`).FindStringSubmatch(caps)
	if m == nil {
		t.Fatalf("plaintext CAP LS 302 lacks sts: %q", caps)
	}
	if want := "port=" + strconv.Itoa(portOf(t, d.addr)); !strings.Contains(","+m[2]+",", ","+want+",") {
		t.Errorf("plaintext sts=%s, want %s (the TLS port)", m[2], want)
	}
	if strings.Contains(m[2], "duration=") {
		t.Errorf("plaintext sts=%s: a duration must only be sent over TLS", m[2])
	}

	tc := d.dial()
	caps = capLSLine(tc, " 302")
	m = regexp.MustCompile(`(^| )sts=(\S+)`).FindStringSubmatch(caps)
	if m == nil {
		t.Fatalf("TLS CAP LS 302 lacks sts: %q", caps)
	}
	dur := regexp.MustCompile(`(^|,)duration=(\d+)(,|$)`).FindStringSubmatch(m[2])
	if dur == nil {
		t.Fatalf("TLS sts=%s has no duration", m[2])
	}
	if secs, _ := strconv.Atoi(dur[2]); secs < 86400 {
		t.Errorf("TLS sts duration %ds; want at least a day", secs)
	}

	// CAP values (sts=..., sasl=PLAIN) are a CAP 302 feature.
	old := d.dial()
	if caps := capLSLine(old, ""); strings.Contains(caps, "=") {
		t.Errorf("CAP LS without 302 lists values: %q", caps)
	}
}

// TestNoSecretsInDebugLog runs a whole session at debug level, with
// wrong passwords, SASL, PASS, channel and private messages, topic, part,
// away and quit texts, and checks that the daemon's output holds none of
// the passwords (plain or as SASL payloads) and none of the text.
func TestNoSecretsInDebugLog(t *testing.T) {
	t.Parallel()
	const (
		password = "log-room-secret-Hq7vZ2"
		wrong1   = "log-wrong-guess-Kd93x"
		wrong2   = "log-wrong-pass-Pz41m"
	)
	pwFile := filepath.Join(t.TempDir(), "room.pw")
	writeFile(t, pwFile, password+"\n", 0o600)
	d := startDaemon(t, daemonSpec{args: []string{"--log-level=debug", "--password-file=" + pwFile}})

	alice, _ := d.register("alice", password)
	bob := d.dial()
	bob.Nick = "bob"
	bob.Send("PASS :%s", password)
	bob.Send("NICK bob")
	bob.Send("USER bob 0 * :mark-realname-b7")
	bob.Expect(` (376|422) bob `)

	mallory := d.dial()
	mallory.Send("CAP LS 302")
	mallory.Send("NICK mallory")
	mallory.Send("USER mallory 0 * :m")
	mallory.Send("CAP REQ :sasl")
	mallory.Expect(`CAP \S+ ACK`)
	mallory.Send("AUTHENTICATE PLAIN")
	mallory.Expect(`AUTHENTICATE \+`)
	mallory.Send("AUTHENTICATE %s", irctest.SASLPlain("mallory", wrong1))
	mallory.Expect(` 904 `)
	eve := d.dial()
	eve.Send("PASS :%s", wrong2)
	eve.Send("NICK eve")
	eve.Send("USER eve 0 * :e")
	eve.ExpectClosed()

	markers := []string{"mark-realname-b7"}
	mark := func(n int) string {
		m := fmt.Sprintf("mark-text-%d-Xq", n)
		if !slices.Contains(markers, m) {
			markers = append(markers, m)
		}
		return m
	}
	alice.JoinAndSync("#logs")
	bob.JoinAndSync("#logs")
	alice.Send("PRIVMSG #logs :%s", mark(1))
	bob.Expect(mark(1))
	bob.Send("PRIVMSG alice :%s", mark(2))
	alice.Expect(mark(2))
	alice.Send("NOTICE #logs :%s", mark(3))
	bob.Expect(mark(3))
	alice.Send("TOPIC #logs :%s", mark(4))
	bob.Expect(mark(4))
	alice.Send("PART #logs :%s", mark(5))
	bob.Expect(mark(5))
	alice.Send("JOIN #logs")
	bob.Expect(`:alice!\S+ JOIN`)
	alice.Send("AWAY :%s", mark(6))
	alice.Expect(` 306 `)
	alice.Send("QUIT :%s", mark(7))
	bob.Expect(`QUIT :.*` + mark(7))
	d.stop()

	out := d.stdout.String() + d.stderr.String()
	if !strings.Contains(out, "level=DEBUG") {
		t.Fatalf("no debug output; is --log-level=debug honoured?\n%s", out)
	}
	secrets := map[string]string{
		"room password": password, "wrong SASL password": wrong1, "wrong PASS password": wrong2,
		"alice's SASL payload": irctest.SASLPlain("alice", password), "mallory's SASL payload": irctest.SASLPlain("mallory", wrong1),
		"password as hex": hex.EncodeToString([]byte(password)),
	}
	for what, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the log contains the %s", what)
		}
	}
	for _, m := range markers {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, m) {
				t.Errorf("the log contains user text %q: %s", m, line)
			}
		}
	}
}

// TestNoLineInjection sends CR (which the line reader does not split on)
// inside messages, topics, part and quit reasons, realnames and nicks,
// each followed by a forged line, and checks that no recipient ever sees
// a bare CR or the forged line, and the log gains no forged line.
func TestNoLineInjection(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: []string{"--log-level=debug"}})
	const forged = ":evil!evil@evil.example PRIVMSG bob :INJECTED"
	alice, _ := d.register("alice", roomPassword)
	bob, _ := d.register("bob", roomPassword)
	alice.JoinAndSync("#inj")
	bob.JoinAndSync("#inj")

	var seen []string // everything bob receives, line by line
	readUntil := func(pattern string) {
		t.Helper()
		re := regexp.MustCompile(pattern)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			line, err := bob.ReadLine(time.Until(deadline))
			if err != nil {
				t.Fatalf("bob waiting for %q: %v (got %q)", pattern, err, seen)
			}
			seen = append(seen, line)
			if re.MatchString(line) {
				return
			}
		}
		t.Fatalf("bob: no %q in %q", pattern, seen)
	}

	for i, format := range []string{
		"PRIVMSG #inj :hi\r%s-%d",
		"NOTICE #inj :hi\r%s-%d",
		"PRIVMSG bob :dm\r%s-%d",
		"TOPIC #inj :topic\r%s-%d",
		"PRIVMSG #inj :\x01ACTION waves\r%s-%d\x01",
		"PART #inj :bye\r%s-%d",
	} {
		alice.Send(format, forged, i)
	}
	alice.Send("JOIN #inj")
	alice.Send("PRIVMSG #inj :end-of-injection")
	readUntil(`PRIVMSG #inj :?end-of-injection$`)

	// A nick or realname with control characters; then a valid nick.
	carol := d.dial()
	carol.Nick = "carol"
	carol.Send("PASS :%s", roomPassword)
	// Refused either as an erroneous nick or as a line with a CR.
	carol.Send("NICK carol\r%s-nick", forged)
	carol.Expect(` (432|FAIL NICK) `)
	carol.Send("NICK c\x01arol")
	carol.Expect(` (432|FAIL NICK) `)
	carol.Send("NICK carol")
	carol.Send("USER carol 0 * :real\r%s-realname", forged)
	carol.Send("USER carol 0 * :plain realname") // in case the first was refused
	carol.Expect(` (376|422) carol `)
	carol.Send("JOIN #inj")
	readUntil(`:carol!\S+ JOIN`)
	bob.Send("WHOIS carol")
	readUntil(` 318 bob carol `)

	alice.Send("QUIT :gone\r%s-quit", forged)
	alice.Send("QUIT :gone") // in case the first was refused
	readUntil(`:alice!\S+ QUIT `)
	d.stop()

	for _, line := range seen {
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("bob received a line with a bare CR: %q", line)
		}
		if m, err := irc.ParseMessage(line); err == nil && m.Prefix != nil && m.Prefix.Name == "evil" {
			t.Errorf("bob received a forged line: %q", line)
		}
	}
	for _, line := range strings.FieldsFunc(d.stderr.String()+d.stdout.String(), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if strings.HasPrefix(line, ":evil") || strings.HasPrefix(line, "INJECTED") || !strings.HasPrefix(line, "time=") {
			t.Errorf("log line not written by the logger: %q", line)
		}
	}
}

// TestRedisOverTLSWithAuth runs the daemon against a redis-server that
// only speaks TLS and requires a password: the daemon verifies Redis's
// certificate (a CA it does not trust is refused), a wrong password is a
// clear start-up error that does not echo it, and with both right a chat
// lands, sealed, in that Redis.
func TestRedisOverTLSWithAuth(t *testing.T) {
	t.Parallel()
	const redisPW = "redis-tls-secret-Vb58"
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	otherCA := newTestCA(t, dir, "other-ca")
	rdb, port := startTLSRedis(t, dir, ca, redisPW)
	url := fmt.Sprintf("rediss://127.0.0.1:%d/0", port)
	pwFile := filepath.Join(dir, "redis.pw")
	writeFile(t, pwFile, redisPW+"\n", 0o600)
	wrongFile := filepath.Join(dir, "wrong.pw")
	writeFile(t, wrongFile, "redis-wrong-secret-Jw20\n", 0o600)
	trusted := "SSL_CERT_FILE=" + ca.certFile
	startArgs := func(pw string) []string {
		return []string{"--listen=127.0.0.1:0", "--metrics-listen=", "--data-dir=" + t.TempDir(), "--redis=" + url, "--redis-password-file=" + pw}
	}

	res := runTool(t, "", append(passwordEnv(roomPassword), "SSL_CERT_FILE="+otherCA.certFile), startArgs(pwFile)...)
	if res.code == 0 || strings.Contains(res.stderr, "msg=listening") || !strings.Contains(res.stderr, "certificate") {
		t.Errorf("with an untrusted Redis certificate: exit %d, stderr:\n%s", res.code, res.stderr)
	}
	res = runTool(t, "", append(passwordEnv(roomPassword), trusted), startArgs(wrongFile)...)
	if res.code == 0 || strings.Contains(res.stderr, "msg=listening") || !regexp.MustCompile(`redis.*(WRONGPASS|invalid username-password)`).MatchString(res.stderr) {
		t.Errorf("with a wrong Redis password: exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, "redis-wrong-secret") || strings.Contains(res.stdout+res.stderr, redisPW) {
		t.Errorf("the start-up error shows a Redis password:\n%s", res.stderr)
	}

	d := startDaemon(t, daemonSpec{env: append(passwordEnv(roomPassword), trusted), args: []string{"--redis=" + url, "--redis-password-file=" + pwFile}})
	chatFive(d, "alice", "bob", "#tlsredis", "over-rediss")
	d.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n, err := rdb.Exists(ctx, keyringKey).Result(); err != nil || n != 1 {
		t.Errorf("keyring in the TLS Redis: exists=%d err=%v", n, err)
	}
	keys, err := rdb.Keys(ctx, "sc:h:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, k := range keys {
		entries, err := rdb.XRange(ctx, k, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		total += len(entries)
		for _, e := range entries {
			if strings.Contains(fmt.Sprint(e.Values), "over-rediss") {
				t.Errorf("plaintext message in %s", k)
			}
		}
	}
	if total < 5 {
		t.Errorf("%d history records in the TLS Redis (keys %q), want the 5 messages", total, keys)
	}
	d2 := startDaemon(t, daemonSpec{env: append(passwordEnv(roomPassword), trusted), args: []string{"--redis=" + url, "--redis-password-file=" + pwFile}})
	carol, _ := d2.register("carol", roomPassword)
	if lines := carol.JoinAndSync("#tlsredis"); !containsMatch(lines, ` PRIVMSG #tlsredis :.*over-rediss-4$`) {
		t.Errorf("history from the TLS Redis not replayed: %q", lines)
	}
}

// testCA is a CA whose certificate and key are PEM files.
type testCA struct {
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	certFile string
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	der, key := newCert(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, certFile: filepath.Join(dir, name+".pem")}
	writeCertFiles(t, ca.certFile, "", der, nil)
	return ca
}

// issue writes a server certificate for 127.0.0.1 signed by ca and
// returns the certificate and key file names.
func (ca *testCA) issue(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	der, key := newCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writeCertFiles(t, certFile, keyFile, der, key)
	return certFile, keyFile
}

// newCert makes a P-256 key and a certificate for it from tmpl, valid for
// an hour either side of now, signed by ca or, if ca is nil, by itself.
// It returns the certificate's DER and the key.
func newCert(t *testing.T, tmpl *x509.Certificate, ca *testCA) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// writeCertFiles writes, as PEM, key to keyFile unless keyFile is "",
// then the certificate der to certFile.
func writeCertFiles(t *testing.T, certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) {
	t.Helper()
	if keyFile != "" {
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})), 0o600)
	}
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
}

// startTLSRedis runs redis-server with only a TLS port and requirepass,
// and returns a verifying client for assertions and the port.
func startTLSRedis(t *testing.T, dir string, ca *testCA, password string) (*redis.Client, int) {
	t.Helper()
	lookTool(t, "redis-server")
	certFile, keyFile := ca.issue(t, dir, "redis")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	var lastErr error
	for range 5 {
		port := redistest.FreePort(t)
		logFile := filepath.Join(dir, fmt.Sprintf("redis-%d.log", port))
		cmd := exec.Command("redis-server",
			"--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", ca.certFile,
			"--tls-auth-clients", "no", "--requirepass", password,
			"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", logFile)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() { _ = cmd.Process.Kill(); <-exited }
		rdb := redis.NewClient(&redis.Options{
			Addr: fmt.Sprintf("127.0.0.1:%d", port), Password: password, MaxRetries: -1,
			TLSConfig:                &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
		deadline := time.Now().Add(10 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			lastErr = rdb.Ping(ctx).Err()
			cancel()
			if lastErr == nil {
				t.Cleanup(func() { _ = rdb.Close(); stop() })
				return rdb, port
			}
			exitedNow := false
			select {
			case <-exited:
				exitedNow = true
			case <-time.After(20 * time.Millisecond):
			}
			if exitedNow || time.Now().After(deadline) {
				out, _ := os.ReadFile(logFile)
				lastErr = fmt.Errorf("%v; redis-server log:\n%s", lastErr, out)
				break
			}
		}
		_ = rdb.Close()
		stop()
	}
	t.Fatalf("TLS redis-server did not start: %v", lastErr)
	return nil, 0
}

// TestMetricsLoopbackByDefault checks that the built-in metrics address
// is on loopback without needing any fixed port free: while this test holds
// the default ports, a daemon started without --metrics-listen must fail
// to bind exactly 127.0.0.1:9477 (which it would not try if the default
// were a wildcard or another port), and a daemon with metrics on a free
// loopback port listens on loopback only.
func TestMetricsLoopbackByDefault(t *testing.T) {
	t.Parallel()
	holdDefaultPorts(t)
	want := config.Defaults().MetricsListen
	if host, _, _ := net.SplitHostPort(want); !net.ParseIP(host).IsLoopback() {
		t.Fatalf("default metrics-listen %q is not loopback", want)
	}
	res := runTool(t, "", passwordEnv(roomPassword), "--listen=127.0.0.1:0", "--data-dir="+t.TempDir())
	if res.code == 0 || !strings.Contains(res.stderr, "metrics-listen: listen tcp "+want+": ") {
		t.Fatalf("with %s taken, the default start exited %d; want a metrics-listen bind error for it\nstderr:\n%s",
			want, res.code, res.stderr)
	}

	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: []string{"--metrics-listen=127.0.0.1:0"}})
	addrs := listeningAddrs(t, d.cmd.Process.Pid)
	found := false
	for _, a := range addrs {
		host, _, _ := net.SplitHostPort(a)
		if !net.ParseIP(host).IsLoopback() {
			t.Errorf("the daemon listens on %s, not loopback", a)
		}
		found = found || a == d.metricsAddr
	}
	if !found {
		t.Errorf("no listener on %s in %q", d.metricsAddr, addrs)
	}
	if code, _ := httpGet(t, "http://"+d.metricsAddr+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	d.stop()
}
