package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"securechat/crypto"
	"securechat/store/redistest"
)

const keyringKey = "sc:keyring"

// TestKeyToolsWithRedis runs passwd and rotate-key against a daemon's data
// set in a real Redis: history written under the old password and the old
// key stays readable, the old password stops working, and a daemon started
// with the wrong password refuses to start without touching the keyring.
func TestKeyToolsWithRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	rdb := rs.Client()
	dataDir := t.TempDir()
	oldPW, newPW := "the old room password", "the new room password"
	redisArg := "--redis=" + rs.URL()
	storeArgs := []string{redisArg, "--data-dir=" + dataDir}
	start := func(pw string) *running {
		return startDaemon(t, daemonSpec{dataDir: dataDir, env: passwordEnv(pw), args: []string{redisArg}})
	}

	// History written under the first password; SIGTERM flushes it.
	d := start(oldPW)
	alice, _ := d.register("alice", oldPW)
	alice.JoinAndSync("#hist")
	alice.Send("PRIVMSG #hist :written-before-passwd")
	alice.Sync()
	d.stop()
	assertNothingPlain(t, rdb, "written-before-passwd", "hist", "alice")
	k0 := getKeyring(t, rdb)

	t.Run("passwd refuses a wrong current password", func(t *testing.T) {
		res := runTool(t, newPW+"\n", passwordEnv("not the password at all"), append([]string{"passwd"}, storeArgs...)...)
		if res.code == 0 || !strings.Contains(res.stderr, "does not open the stored keyring") {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
		if !bytes.Equal(getKeyring(t, rdb), k0) {
			t.Errorf("a failed passwd changed %s", keyringKey)
		}
	})
	t.Run("passwd refuses a short new password", func(t *testing.T) {
		res := runTool(t, "short\n", passwordEnv(oldPW), append([]string{"passwd"}, storeArgs...)...)
		if res.code == 0 || !strings.Contains(res.stderr, "at least 8") {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
		if !bytes.Equal(getKeyring(t, rdb), k0) {
			t.Errorf("a refused passwd changed %s", keyringKey)
		}
	})

	res := runTool(t, newPW+"\n", passwordEnv(oldPW), append([]string{"passwd"}, storeArgs...)...)
	if res.code != 0 {
		t.Fatalf("passwd: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "Room password changed") || strings.Contains(res.stdout+res.stderr, newPW) {
		t.Errorf("passwd output: %q / %q", res.stdout, res.stderr)
	}
	k1 := getKeyring(t, rdb)
	if bytes.Equal(k1, k0) {
		t.Fatalf("passwd left %s unchanged", keyringKey)
	}

	// The old password no longer opens the keyring: a clear error, and
	// the keyring is not touched.
	res = runTool(t, "", passwordEnv(oldPW), "--listen=127.0.0.1:0", "--metrics-listen=", "--data-dir="+dataDir, redisArg)
	if res.code == 0 {
		t.Fatalf("daemon started with the old password")
	}
	if !strings.Contains(res.stderr, "the room password does not open the stored keyring (wrong password?); nothing was changed") {
		t.Errorf("unclear error for the old password:\n%s", res.stderr)
	}
	if strings.Contains(res.stderr, "msg=listening") {
		t.Errorf("listened before refusing:\n%s", res.stderr)
	}
	if !bytes.Equal(getKeyring(t, rdb), k1) {
		t.Errorf("starting with the old password changed %s", keyringKey)
	}

	// The new password works, the old one is refused at login, history
	// from before the change is replayed.
	d = start(newPW)
	c := d.dial()
	c.Send("PASS :%s", oldPW)
	c.Send("NICK stale")
	c.Send("USER stale 0 * :s")
	if ls := c.ExpectClosed(); !containsMatch(ls, ` 464 `) || containsMatch(ls, ` 001 `) {
		t.Errorf("old password at login: %q", ls)
	}
	bob, _ := d.register("bob", newPW)
	assertReplayed(t, bob.JoinAndSync("#hist"), "#hist", "written-before-passwd")
	bob.Send("PRIVMSG #hist :written-after-passwd")
	bob.Sync()
	d.stop()

	res = runTool(t, "", passwordEnv(newPW), append([]string{"rotate-key"}, storeArgs...)...)
	if res.code != 0 {
		t.Fatalf("rotate-key: exit %d\n%s", res.code, res.stderr)
	}
	k2 := getKeyring(t, rdb)
	before, after := parseKeyring(t, k1), parseKeyring(t, k2)
	if after.NextID <= before.NextID || len(after.DataKeys) <= len(before.DataKeys) {
		t.Errorf("rotate-key did not add a data key: next id %d -> %d, keys %d -> %d",
			before.NextID, after.NextID, len(before.DataKeys), len(after.DataKeys))
	}

	d = start(newPW)
	carol, _ := d.register("carol", newPW)
	assertReplayed(t, carol.JoinAndSync("#hist"), "#hist", "written-before-passwd", "written-after-passwd")
	carol.Send("PRIVMSG #hist :written-after-rotate")
	carol.Sync()
	d.stop()

	d = start(newPW)
	dave, _ := d.register("dave", newPW)
	assertReplayed(t, dave.JoinAndSync("#hist"), "#hist", "written-before-passwd", "written-after-passwd", "written-after-rotate")
	d.stop()
	assertNothingPlain(t, rdb, "written-after-rotate", "hist", newPW, oldPW)
}

// TestHashPassword checks hash-password prints an Argon2id hash that
// crypto.VerifyPassword accepts for the password given on stdin only.
func TestHashPassword(t *testing.T) {
	t.Parallel()
	res := runTool(t, "oper secret\n", nil, "hash-password")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	hash := strings.TrimSpace(res.stdout)
	if strings.Count(res.stdout, "\n") != 1 || !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("output %q, want one $argon2id$ line", res.stdout)
	}
	if !crypto.VerifyPassword(hash, []byte("oper secret")) {
		t.Errorf("VerifyPassword rejects the hashed password")
	}
	if crypto.VerifyPassword(hash, []byte("oper secreT")) {
		t.Errorf("VerifyPassword accepts a different password")
	}
	again := runTool(t, "oper secret\n", nil, "hash-password")
	if strings.TrimSpace(again.stdout) == hash {
		t.Errorf("two hashes of one password are equal: no random salt")
	}

	empty := runTool(t, "", nil, "hash-password")
	if empty.code == 0 || !strings.Contains(empty.stderr, "expected the password on standard input") {
		t.Errorf("empty stdin: exit %d, stderr %q", empty.code, empty.stderr)
	}
}

func getKeyring(t *testing.T, rdb *redis.Client) []byte {
	t.Helper()
	b, err := rdb.Get(context.Background(), keyringKey).Bytes()
	if err != nil {
		t.Fatalf("GET %s: %v", keyringKey, err)
	}
	return b
}

func parseKeyring(t *testing.T, b []byte) *crypto.Keyring {
	t.Helper()
	k, err := crypto.ParseKeyring(b)
	if err != nil {
		t.Fatalf("parse keyring: %v", err)
	}
	return k
}

// assertReplayed checks the lines a JOIN returned hold the given
// messages of channel, in order, as history replay.
func assertReplayed(t *testing.T, joinLines []string, channel string, texts ...string) {
	t.Helper()
	i := 0
	for _, l := range joinLines {
		if i < len(texts) && strings.Contains(l, " PRIVMSG "+channel+" ") && strings.HasSuffix(l, texts[i]) {
			i++
		}
	}
	if i != len(texts) {
		t.Errorf("JOIN replayed %d of %q in order; got:\n%s", i, texts, strings.Join(joinLines, "\n"))
	}
}

// assertNothingPlain reads every key and value in Redis and fails if any
// of the secrets appears in plain text.
func assertNothingPlain(t *testing.T, rdb *redis.Client, secrets ...string) {
	t.Helper()
	assertNotIn(t, redisText(t, rdb), secrets...)
}

// redisText returns every key and value of the Redis server rdb talks to.
func redisText(t *testing.T, rdb *redis.Client) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for _, k := range keys {
		all.WriteString(k + "\n")
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "string":
			all.WriteString(rdb.Get(ctx, k).Val())
		case "stream":
			for _, m := range rdb.XRange(ctx, k, "-", "+").Val() {
				for f, v := range m.Values {
					all.WriteString(f + "=" + toString(v) + "\n")
				}
			}
		case "zset":
			for _, m := range rdb.ZRange(ctx, k, 0, -1).Val() {
				all.WriteString(m + "\n")
			}
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				all.WriteString(f + "=" + v + "\n")
			}
		default:
			t.Errorf("unexpected Redis key %s of type %s", k, typ)
		}
	}
	return all.Bytes()
}

// assertNotIn fails if all, what Redis holds, is empty or shows any of
// the secrets.
func assertNotIn(t *testing.T, all []byte, secrets ...string) {
	t.Helper()
	if len(all) == 0 {
		t.Fatalf("Redis is empty: nothing was stored")
	}
	for _, s := range secrets {
		if bytes.Contains(bytes.ToLower(all), []byte(strings.ToLower(s))) {
			t.Errorf("%q is readable in Redis", s)
		}
	}
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// TestPasswdUpdatesGeneratedPassword checks passwd on a deployment whose
// password was generated into the data dir: the file is rewritten (still
// 0600), so the next start uses the new password without further steps.
func TestPasswdUpdatesGeneratedPassword(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	dataDir := t.TempDir()
	redisArg := "--redis=" + rs.URL()
	d := startDaemon(t, daemonSpec{dataDir: dataDir, args: []string{redisArg}})
	pwPath := filepath.Join(dataDir, "room-password")
	oldPW := strings.TrimSpace(readFile(t, pwPath))
	alice, _ := d.register("alice", oldPW)
	alice.JoinAndSync("#gen")
	alice.Send("PRIVMSG #gen :kept-across-passwd")
	alice.Sync()
	d.stop()

	newPW := "a brand new generated-file password"
	res := runTool(t, newPW+"\n", nil, "passwd", redisArg, "--data-dir="+dataDir)
	if res.code != 0 {
		t.Fatalf("passwd: exit %d: %s", res.code, res.stderr)
	}
	if got := strings.TrimSpace(readFile(t, pwPath)); got != newPW {
		t.Fatalf("room-password holds %q after passwd, want the new password", got)
	}
	if fi, err := os.Stat(pwPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("room-password mode after passwd: %v %v", fi.Mode(), err)
	}

	d = startDaemon(t, daemonSpec{dataDir: dataDir, args: []string{redisArg}})
	if strings.Contains(d.stdout.String(), newPW) {
		t.Errorf("restart printed the password")
	}
	bob, _ := d.register("bob", newPW)
	lines := bob.JoinAndSync("#gen")
	if !containsMatch(lines, ` PRIVMSG #gen .*kept-across-passwd$`) {
		t.Errorf("history not replayed after passwd: %q", lines)
	}
	d.stop()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
