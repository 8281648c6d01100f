package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestWebpushKeyAcrossRestart runs the real binary with --accounts and a
// --webpush-subject: ISUPPORT offers a VAPID key, the same one after a
// restart (subscriptions made with it keep working), and the draft/webpush
// capability; without --accounts neither is offered.
func TestWebpushKeyAcrossRestart(t *testing.T) {
	t.Parallel()
	spec := daemonSpec{dataDir: t.TempDir(), env: passwordEnv(roomPassword),
		args: []string{"--accounts", "--webpush-subject=mailto:ops@securechat.test"}}
	d := startDaemon(t, spec)
	first := vapidOf(t, d.dial().RegisterAccount("alice", "horse battery staple", roomPassword, "draft/webpush"))
	d.stop()
	d = startDaemon(t, spec)
	again := vapidOf(t, d.dial().LoginAccount("alice", "alice", "horse battery staple", roomPassword))
	d.stop()
	if first != again {
		t.Errorf("VAPID key changed across a restart: %s, then %s", first, again)
	}

	off := startDaemon(t, daemonSpec{dataDir: t.TempDir(), env: passwordEnv(roomPassword)})
	_, welcome := off.register("bob", roomPassword)
	if strings.Contains(strings.Join(welcome, "\n"), "VAPID=") {
		t.Error("VAPID offered without --accounts")
	}
}

func vapidOf(t *testing.T, welcome []string) string {
	t.Helper()
	re := regexp.MustCompile(` VAPID=([A-Za-z0-9_-]{80,})( |$)`)
	for _, l := range welcome {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no VAPID token in ISUPPORT: %q", welcome)
	return ""
}
