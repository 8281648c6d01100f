package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestConfigFailures starts the binary with one broken setting at a time:
// it must exit with a non-zero status before listening, and say on exactly
// one line which setting is wrong.
func TestConfigFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty-password")
	writeFile(t, empty, "", 0o600)
	unknownKey := filepath.Join(dir, "unknown.conf")
	writeFile(t, unknownKey, "# comment\nreplay = 10\ncolour = blue\n", 0o600)
	tests := []struct {
		name string
		args []string
		line string // regexp for the one error line
	}{
		{"bad listen address", []string{"--listen=nonsense"}, `^listen: "nonsense" is not host:port`},
		{"listen port out of range", []string{"--listen=127.0.0.1:99999"}, `^listen: "127.0.0.1:99999" has no valid port number`},
		{"unreadable tls-cert", []string{"--tls-cert=" + filepath.Join(dir, "missing.pem"), "--tls-key=" + filepath.Join(dir, "missing-key.pem")}, `^tls-cert/tls-key: cannot load .*missing\.pem`},
		{"tls-cert is a directory", []string{"--tls-cert=" + dir, "--tls-key=" + dir}, `^tls-cert/tls-key: cannot load`},
		{"tls-cert without key", []string{"--tls-cert=" + filepath.Join(dir, "missing.pem")}, `^tls-key: must be set when tls-cert is`},
		{"empty password file", []string{"--password-file=" + empty}, `^password-file: secret file .*empty-password is empty`},
		{"unknown key in config file", []string{"--config=" + unknownKey}, `^` + regexp.QuoteMeta(unknownKey) + `:3: unknown setting "colour"`},
		{"plaintext on all interfaces", []string{"--listen-plain=0.0.0.0:6667"}, `^listen-plain: "0.0.0.0:6667" is not a loopback address.*allow-insecure-plaintext`},
		{"bad duration", []string{"--ping-interval=soon"}, `^ping-interval: invalid value "soon" \(from flag --ping-interval\)`},
		{"unknown flag", []string{"--colour=blue"}, `^command line: flag provided but not defined: -colour`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := filepath.Join(t.TempDir(), "data")
			args := append([]string{"--listen=127.0.0.1:0", "--metrics-listen=", "--data-dir=" + data}, tc.args...)
			res := runTool(t, "", []string{"SECURECHAT_PASSWORD=a-good-enough-password"}, args...)
			if res.code == 0 {
				t.Fatalf("exit status 0, want non-zero; stderr:\n%s", res.stderr)
			}
			lines := errorLines(res.stderr)
			if len(lines) != 1 {
				t.Fatalf("want exactly one error line, got %d:\n%s", len(lines), res.stderr)
			}
			if !regexp.MustCompile(tc.line).MatchString(lines[0]) {
				t.Errorf("error line %q does not match %q", lines[0], tc.line)
			}
			if strings.Contains(res.stderr, "a-good-enough-password") || res.stdout != "" {
				t.Errorf("unexpected output: stdout %q, stderr %q", res.stdout, res.stderr)
			}
			if strings.Contains(res.stderr, "msg=listening") {
				t.Errorf("daemon started listening despite the bad configuration:\n%s", res.stderr)
			}
			if _, err := os.Stat(data); err == nil {
				t.Errorf("data-dir %s was created by a start that failed validation", data)
			}
		})
	}
}

// errorLines returns stderr without the "securechatd: invalid
// configuration:" header, one entry per non-empty line.
func errorLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l == "securechatd: invalid configuration:" {
			continue
		}
		out = append(out, l)
	}
	return out
}

// TestConfigSeveralProblems checks every problem is reported at once, each
// on its own line, so an operator fixes a config in one round.
func TestConfigSeveralProblems(t *testing.T) {
	t.Parallel()
	res := runTool(t, "", nil, "--listen=nope", "--log-level=loud", "--replay=-1", "--data-dir="+t.TempDir())
	if res.code == 0 {
		t.Fatalf("exit 0 for three bad settings")
	}
	lines := errorLines(res.stderr)
	var names []string
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"listen", "log-level", "replay"}; !slices.Equal(names, want) {
		t.Errorf("settings named %q, want %q; stderr:\n%s", names, want, res.stderr)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--help", "-h"} {
		res := runTool(t, "", nil, arg)
		if res.code != 0 {
			t.Errorf("%s: exit %d, want 0; stderr:\n%s", arg, res.code, res.stderr)
		}
		for _, want := range []string{"Usage: securechatd", "--listen=VALUE", "SECURECHAT_LISTEN", "--password-file=VALUE", "--allow-insecure-plaintext"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("%s: usage lacks %q:\n%s", arg, want, res.stdout)
			}
		}
	}
}

// TestDefaults starts the daemon with no TLS, password or plaintext
// settings: it must generate and print a password once, generate a
// self-signed certificate whose logged fingerprint is the one served, keep
// both across a restart, and open the TLS port only.
func TestDefaults(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data") // not created yet
	d := startDaemon(t, daemonSpec{dataDir: dataDir})

	pwPath := filepath.Join(dataDir, "room-password")
	fi, err := os.Stat(pwPath)
	if err != nil {
		t.Fatalf("generated password: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("room-password mode %v, want 0600", mode)
	}
	raw, _ := os.ReadFile(pwPath)
	pw := strings.TrimSpace(string(raw))
	if len(pw) < 20 {
		t.Fatalf("generated password %q is too short", pw)
	}
	if n := strings.Count(d.stdout.String(), pw); n != 1 {
		t.Errorf("password printed %d times on stdout, want once:\n%s", n, d.stdout.String())
	}
	if strings.Contains(d.stderr.String(), pw) {
		t.Errorf("the password appears in the log")
	}

	if d.fingerprint == "" {
		t.Fatalf("no TLS certificate fingerprint logged:\n%s", d.stderr.String())
	}
	if got := servedFingerprint(t, d.addr); got != d.fingerprint {
		t.Errorf("served certificate %s, logged %s", got, d.fingerprint)
	}
	for _, name := range []string{"tls-cert.pem", "tls-key.pem"} {
		if _, err := os.Stat(filepath.Join(dataDir, name)); err != nil {
			t.Errorf("self-signed pair not kept in data-dir: %v", err)
		}
	}

	// Only the TLS listener: no plaintext port unless asked for.
	if ports := listeningPorts(t, d.cmd.Process.Pid); !slices.Equal(ports, []int{portOf(t, d.addr)}) {
		t.Errorf("listening on %v, want only the TLS port %d", ports, portOf(t, d.addr))
	}
	if strings.Contains(d.stderr.String(), "tls=false") {
		t.Errorf("a plaintext listener was started:\n%s", d.stderr.String())
	}

	c, _ := d.register("alice", pw)
	c.Sync()
	d.stop()

	again := startDaemon(t, daemonSpec{dataDir: dataDir})
	if again.fingerprint != d.fingerprint {
		t.Errorf("restart changed the certificate: %s, was %s", again.fingerprint, d.fingerprint)
	}
	if got := servedFingerprint(t, again.addr); got != d.fingerprint {
		t.Errorf("after restart served %s, want %s", got, d.fingerprint)
	}
	if strings.Contains(again.stdout.String(), pw) || strings.Contains(again.stdout.String(), "Generated") {
		t.Errorf("second start printed the password again:\n%s", again.stdout.String())
	}
	c2, _ := again.register("bob", pw)
	c2.Sync()
	again.stop()
}
