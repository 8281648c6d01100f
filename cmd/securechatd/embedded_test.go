package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmbeddedStoreSurvivesRestart runs the daemon with no Redis: the
// topic and history written before a SIGTERM are back after a restart on
// the same data directory, and no file in that directory holds a nick,
// the channel name, the topic or a message in clear.
func TestEmbeddedStoreSurvivesRestart(t *testing.T) {
	t.Parallel()
	const (
		channel = "#zqvault"
		topic   = "zq topic kept across restarts"
	)
	texts := []string{"zq first message text", "zq second message text", "zq third message text"}
	dataDir := t.TempDir()
	spec := daemonSpec{dataDir: dataDir, env: passwordEnv(roomPassword)}

	d := startDaemon(t, spec)
	alice, _ := d.register("zqalice", roomPassword)
	alice.JoinAndSync(channel)
	alice.Send("TOPIC %s :%s", channel, topic)
	alice.Expect(` TOPIC ` + channel + ` `)
	for _, text := range texts {
		alice.Send("PRIVMSG %s :%s", channel, text)
	}
	alice.Sync()
	d.stop()

	d = startDaemon(t, spec)
	bob, _ := d.register("zqbob", roomPassword)
	lines := bob.JoinAndSync(channel)
	if !containsMatch(lines, ` 332 zqbob `+channel+` :`+topic+`$`) {
		t.Errorf("topic not restored after restart; JOIN got:\n%s", strings.Join(lines, "\n"))
	}
	assertReplayed(t, lines, channel, texts...)
	d.stop()

	secrets := append([]string{"zqalice", "zqbob", "zqvault", topic, roomPassword}, texts...)
	assertNoFileHolds(t, dataDir, secrets...)
}

// assertNoFileHolds reads every file under dir and fails if one holds any
// of the secrets, or if there is no database file to read.
func assertNoFileHolds(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	sawDB := false
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sawDB = sawDB || (e.Name() == boltFile && len(raw) > 0)
		for _, s := range secrets {
			if bytes.Contains(bytes.ToLower(raw), bytes.ToLower([]byte(s))) {
				t.Errorf("%s holds %q in clear", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawDB {
		t.Fatalf("no %s under %s: nothing was stored", boltFile, dir)
	}
}

// TestEmbeddedStoreIsLocked: a second daemon, or a key tool, on the data
// directory of a running daemon fails at once with a clear error instead
// of hanging or sharing the file.
func TestEmbeddedStoreIsLocked(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	d := startDaemon(t, daemonSpec{dataDir: dataDir, env: passwordEnv(roomPassword)})
	for name, args := range map[string][]string{
		"second daemon": {"--listen=127.0.0.1:0", "--metrics-listen=", "--data-dir=" + dataDir},
		"rotate-key":    {"rotate-key", "--data-dir=" + dataDir},
	} {
		res := runTool(t, "", passwordEnv(roomPassword), args...)
		if res.code == 0 || !strings.Contains(res.stderr, "in use by another process") {
			t.Errorf("%s on a running daemon's data dir: exit %d, stderr:\n%s", name, res.code, res.stderr)
		}
	}
	d.stop()
}

// TestKeyToolsEmbedded runs rotate-key and passwd on the embedded store of
// a stopped daemon: both persist, and history written before them is
// still replayed under the new password.
func TestKeyToolsEmbedded(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	newPW := "the new embedded room password"
	d := startDaemon(t, daemonSpec{dataDir: dataDir, env: passwordEnv(roomPassword)})
	alice, _ := d.register("alice", roomPassword)
	alice.JoinAndSync("#keys")
	alice.Send("PRIVMSG #keys :written-before-rotate")
	alice.Sync()
	d.stop()

	res := runTool(t, "", passwordEnv(roomPassword), "rotate-key", "--data-dir="+dataDir)
	if res.code != 0 || !strings.Contains(res.stdout, "New data key added") {
		t.Fatalf("rotate-key: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	res = runTool(t, newPW+"\n", passwordEnv(roomPassword), "passwd", "--data-dir="+dataDir)
	if res.code != 0 {
		t.Fatalf("passwd: exit %d\nstderr:\n%s", res.code, res.stderr)
	}
	res = runTool(t, "", passwordEnv(roomPassword), "--listen=127.0.0.1:0", "--metrics-listen=", "--data-dir="+dataDir)
	if res.code == 0 || !strings.Contains(res.stderr, "does not open the stored keyring") {
		t.Errorf("start with the old password after passwd: exit %d, stderr:\n%s", res.code, res.stderr)
	}
	d = startDaemon(t, daemonSpec{dataDir: dataDir, env: passwordEnv(newPW)})
	bob, _ := d.register("bob", newPW)
	assertReplayed(t, bob.JoinAndSync("#keys"), "#keys", "written-before-rotate")
	d.stop()
}
