package main

// End-to-end helpers: the tests in this package build the real securechatd
// binary once (TestMain), run it as a child process on loopback ports with
// its own data directory, and talk to it the way users and operators do —
// raw IRC over TLS, real IRC clients, signals, HTTP and real Prometheus.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"securechat/config"
	"securechat/ircd/irctest"
)

// binaryPath is the securechatd built by TestMain; tests only read it.
var binaryPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "securechatd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binaryPath = filepath.Join(dir, "securechatd")
	build := exec.Command(goTool(), "build", "-o", binaryPath, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building securechatd: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goTool returns the go command of the toolchain running the tests.
func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		return "go"
	}
	return p
}

// childEnv is the test process's environment without any SECURECHAT_
// variable (so the developer's settings cannot leak into a test), plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SECURECHAT_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// result is how a short-lived securechatd invocation ended.
type result struct {
	stdout, stderr string
	code           int
}

// runTool runs securechatd to completion (a subcommand or a start that is
// expected to fail) with stdin, bounded by a timeout.
func runTool(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binaryPath, args...)
	cmd.Env = childEnv(env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("securechatd %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("securechatd %q did not finish within 30s; stderr:\n%s", args, stderr.String())
	}
	return result{stdout.String(), stderr.String(), code}
}

// logBuffer collects a child's output; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is one running securechatd process.
type running struct {
	t           *testing.T
	cmd         *exec.Cmd
	dataDir     string
	stdout      *logBuffer
	stderr      *logBuffer
	exited      chan struct{} // closed when the process has been reaped
	exitCode    int           // valid once exited is closed
	addr        string        // TLS listener, from the log
	metricsAddr string        // metrics listener, from the log; "" if none
	fingerprint string        // SHA-256 the daemon logged, colon-separated
}

// daemonSpec says how to start a daemon. Args come after the defaults
// (loopback TLS on a kernel-chosen port, no metrics listener, dataDir), so
// a test can override any of them.
type daemonSpec struct {
	dataDir string   // default t.TempDir()
	env     []string // e.g. SECURECHAT_PASSWORD=...
	args    []string
}

var (
	listeningRe   = regexp.MustCompile(`msg=listening addr=(\S+) tls=true`)
	fingerprintRe = regexp.MustCompile(`msg="TLS certificate" sha256=([0-9A-F:]{95})`)
	metricsAddrRe = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)
)

// startDaemon runs securechatd and waits until its TLS listener is up.
// The process is killed when the test ends if it is still running.
func startDaemon(t *testing.T, spec daemonSpec) *running {
	t.Helper()
	if spec.dataDir == "" {
		spec.dataDir = t.TempDir()
	}
	base := []string{"--listen=127.0.0.1:0", "--metrics-listen=", "--data-dir=" + spec.dataDir}
	args := append(base, spec.args...)
	d := &running{t: t, dataDir: spec.dataDir, stdout: &logBuffer{}, stderr: &logBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(binaryPath, args...)
	d.cmd.Env = childEnv(spec.env...)
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start securechatd: %v", err)
	}
	go func() {
		_ = d.cmd.Wait()
		d.exitCode = d.cmd.ProcessState.ExitCode()
		close(d.exited)
	}()
	t.Cleanup(d.kill)
	m := d.waitLog(listeningRe, 20*time.Second)
	d.addr = m[1]
	if fp := fingerprintRe.FindStringSubmatch(d.stderr.String()); fp != nil {
		d.fingerprint = fp[1]
	}
	// The metrics listener is logged after the IRC listener: wait for it
	// when one was asked for, rather than race the daemon's log.
	if wantsMetrics(args) {
		d.metricsAddr = d.waitLog(metricsAddrRe, 10*time.Second)[1]
	}
	return d
}

// wantsMetrics reports whether args (last one wins, as with flag) leave a
// metrics listener on: the built-in default, or a non-empty address.
func wantsMetrics(args []string) bool {
	want := true
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "--metrics-listen="):
			want = strings.TrimPrefix(a, "--metrics-listen=") != ""
		case a == "--metrics-listen" && i+1 < len(args):
			want = args[i+1] != ""
		}
	}
	return want
}

// kill ends the process if it still runs; for t.Cleanup.
func (d *running) kill() { killProcess(d.cmd, d.exited) }

// killProcess kills cmd unless exited, closed once it has been reaped,
// says it already ended, and waits for that.
func killProcess(cmd *exec.Cmd, exited <-chan struct{}) {
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Kill()
	<-exited
}

// waitLog waits until the daemon's log matches re and returns the match.
// It fails the test if the process exits first or the timeout passes.
func (d *running) waitLog(re *regexp.Regexp, timeout time.Duration) []string {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(d.stderr.String()); m != nil {
			return m
		}
		select {
		case <-d.exited:
			if m := re.FindStringSubmatch(d.stderr.String()); m != nil {
				return m
			}
			d.t.Fatalf("securechatd exited with %d before logging %q\nstdout:\n%s\nstderr:\n%s",
				d.exitCode, re, d.stdout.String(), d.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("securechatd did not log %q within %v\nstderr:\n%s", re, timeout, d.stderr.String())
		}
	}
}

// signal sends sig to the daemon.
func (d *running) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (d *running) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.exited:
		return d.exitCode
	case <-time.After(timeout):
		d.t.Fatalf("securechatd still running %v after being told to stop\nstderr:\n%s", timeout, d.stderr.String())
		return -1
	}
}

// stop sends SIGTERM and requires a clean exit.
func (d *running) stop() {
	d.t.Helper()
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != 0 {
		d.t.Fatalf("securechatd exited with %d after SIGTERM\nstderr:\n%s", code, d.stderr.String())
	}
}

// holdDefaultPorts listens on every built-in listen address (the TLS
// port, the metrics port) until the test ends, as another daemon or a
// developer's own securechatd would: a test that calls it shows it needs
// none of them free. An address already taken by another process is just
// as taken, so failing to listen is not an error.
func holdDefaultPorts(t *testing.T) {
	t.Helper()
	def := config.Defaults()
	for _, addr := range []string{def.Listen, def.ListenPlain, def.WebListen, def.MetricsListen} {
		if addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Logf("default address %s already taken: %v", addr, err)
			continue
		}
		t.Cleanup(func() { ln.Close() })
	}
}

// lookTool returns the path of a program a test drives, failing the test
// if it is not installed.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found on PATH (%v); run .ci/install-deps", name, err)
	}
	return path
}

// fingerprintOf renders the SHA-256 of a DER certificate the way the
// daemon logs it: upper-case hex pairs joined by colons.
func fingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// servedFingerprint connects to addr and returns the fingerprint of the
// certificate the server presents.
func servedFingerprint(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	defer conn.Close()
	return fingerprintOf(conn.ConnectionState().PeerCertificates[0].Raw)
}

// client speaks raw IRC lines over TLS, transcript style.
type client = irctest.Client

// expectTimeout is how long a client waits for an expected line: longer
// than irctest's default, as the daemon is a separate process.
const expectTimeout = 10 * time.Second

// dial opens a TLS connection to the daemon. The certificate must be the
// one whose fingerprint the daemon logged, as a pinning client checks.
func (d *running) dial() *client {
	d.t.Helper()
	return d.dialT(d.t)
}

// dialT is dial for a subtest: failures and cleanup go to t.
func (d *running) dialT(t *testing.T) *client {
	t.Helper()
	want := d.fingerprint
	conf := &tls.Config{
		InsecureSkipVerify: true, // self-signed: pinned below instead
		VerifyConnection: func(cs tls.ConnectionState) error {
			if got := fingerprintOf(cs.PeerCertificates[0].Raw); want != "" && got != want {
				return fmt.Errorf("server certificate %s, daemon logged %s", got, want)
			}
			return nil
		},
	}
	c := irctest.DialTLS(t, d.addr, conf)
	c.Nick = "*"
	c.ExpectTimeout = expectTimeout
	return c
}

// dialPlain opens a plaintext connection to a --listen-plain address.
func dialPlain(t *testing.T, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := irctest.NewClient(t, nc)
	c.Nick = "plain"
	c.ExpectTimeout = expectTimeout
	return c
}

// register logs in with SASL PLAIN and waits for the end of the MOTD; it
// returns the lines of the welcome burst.
func (d *running) register(nick, password string) (*client, []string) {
	d.t.Helper()
	c := d.dial()
	return c, c.RegisterSASL(nick, password)
}

// httpGet fetches url and returns the status and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// listeningPorts returns the TCP ports the process pid listens on.
func listeningPorts(t *testing.T, pid int) []int {
	t.Helper()
	var ports []int
	for _, a := range listeningAddrs(t, pid) {
		ports = append(ports, portOf(t, a))
	}
	return ports
}

// listeningAddrs returns the local addresses (ip:port) of the TCP
// sockets pid listens on, found through its socket file descriptors and
// /proc/net/tcp{,6}.
func listeningAddrs(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("listing fds: %v", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var addrs []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			addrs = append(addrs, procAddr(t, f[1]))
		}
	}
	return addrs
}

// procAddr decodes /proc/net/tcp's "0100007F:24F5" (IPv4 as a
// little-endian word, or IPv6 as four of them) into ip:port.
func procAddr(t *testing.T, s string) string {
	t.Helper()
	hexIP, hexPort, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(hexIP)
	if err != nil || len(raw)%4 != 0 {
		t.Fatalf("bad /proc/net/tcp address %q", s)
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		ip[i], ip[i+1], ip[i+2], ip[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, _ := strconv.ParseUint(hexPort, 16, 16)
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}

// portOf returns the port of a host:port address.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// writeFile writes a test file and fails the test on error.
func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
