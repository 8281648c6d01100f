package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"securechat/store/redistest"
)

// TestShutdownFlushFailureExitsNonZero: when Redis is gone at SIGTERM with
// acknowledged messages still queued, the final flush fails and the
// daemon says so and exits non-zero instead of reporting success.
func TestShutdownFlushFailureExitsNonZero(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: []string{"--redis=" + rs.URL()}})
	alice, _ := d.register("alice", roomPassword)
	alice.JoinAndSync("#lost")
	rs.Stop()
	alice.Send("PRIVMSG #lost :queued while Redis is gone")
	alice.Sync()
	d.signal(syscall.SIGTERM)
	code := d.wait(20 * time.Second)
	if code == 0 {
		t.Fatalf("exit status 0 with the final history flush failed\nstderr:\n%s", d.stderr.String())
	}
	if !strings.Contains(d.stderr.String(), "securechatd: shutdown incomplete, history may be lost") {
		t.Errorf("no clear error for the failed flush\nstderr:\n%s", d.stderr.String())
	}
}
