package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPasswordFileChecks starts the real binary with weak password files:
// one readable by everyone is refused before anything listens (unless
// --allow-insecure-password-file), one readable by its group and a short
// password start with warnings in the log at WARN and on stderr, and no
// warning carries the password.
func TestPasswordFileChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	worldFile := filepath.Join(dir, "world.pw")
	writeFile(t, worldFile, "a long enough room password\n", 0o644)

	res := runTool(t, "", nil, "--listen=127.0.0.1:0", "--metrics-listen=", "--data-dir="+t.TempDir(), "--password-file="+worldFile)
	if res.code != 2 || !strings.Contains(res.stderr, "password-file: "+worldFile+" is readable by everyone (mode 0644)") ||
		strings.Contains(res.stderr, "listening") {
		t.Fatalf("world-readable password file: exit %d; want 2 and the refusal\nstderr:\n%s", res.code, res.stderr)
	}

	d := startDaemon(t, daemonSpec{args: []string{"--password-file=" + worldFile, "--allow-insecure-password-file"}})
	wantWarning(t, d, "password-file "+worldFile+" is readable by everyone", "a long enough room password")
	d.stop()

	const short = "pw-11-chars"
	groupFile := filepath.Join(dir, "group.pw")
	writeFile(t, groupFile, short+"\n", 0o640)
	d = startDaemon(t, daemonSpec{args: []string{"--password-file=" + groupFile}})
	wantWarning(t, d, "password-file "+groupFile+" is readable by its group (mode 0640)", short)
	wantWarning(t, d, "the room password is shorter than 12 characters", short)
	c, _ := d.register("grouped", short) // it still starts and admits the password
	c.Send("QUIT")
	d.stop()
}

// wantWarning requires the daemon to have said warning both as a WARN log
// record and as a plain stderr line, without the secret anywhere.
func wantWarning(t *testing.T, d *running, warning, secret string) {
	t.Helper()
	stderr := d.stderr.String()
	if !strings.Contains(stderr, "securechatd: WARNING: "+warning) {
		t.Errorf("stderr lacks the plain warning %q:\n%s", warning, stderr)
	}
	logged := false
	for _, line := range strings.Split(stderr, "\n") {
		logged = logged || (strings.Contains(line, "level=WARN") && strings.Contains(line, warning))
	}
	if !logged {
		t.Errorf("no level=WARN record with %q:\n%s", warning, stderr)
	}
	if strings.Contains(stderr, secret) {
		t.Errorf("the password appears on stderr:\n%s", stderr)
	}
}
