package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWeeChat drives an unmodified WeeChat (Debian's weechat-headless)
// against the daemon: it pins the certificate by the fingerprint the daemon
// logged, logs in with SASL PLAIN, joins a channel and talks with a raw
// client in both directions.
func TestWeeChat(t *testing.T) {
	t.Parallel()
	bin := lookTool(t, "weechat-headless")
	const pw = "weechat-e2e-password" // no spaces or ';': it goes on a WeeChat command line
	d := startDaemon(t, daemonSpec{env: passwordEnv(pw)})
	raw, _ := d.register("rawclient", pw)
	raw.JoinAndSync("#e2e")

	home := t.TempDir()
	host, port, _ := net.SplitHostPort(d.addr)
	tls, antiFlood := weechatOptions(t, bin)
	commands := []string{
		"/set logger.file.flush_delay 0",
		fmt.Sprintf("/server add sc %s/%s -%s -%s_fingerprint=%s -sasl_mechanism=plain -sasl_username=weechat -sasl_password=%s -nicks=wee %s",
			host, port, tls, tls, strings.ReplaceAll(d.fingerprint, ":", ""), pw, antiFlood),
		// Run once registered, in order on one connection: the server
		// handles the JOIN before the PRIVMSG. "\;" keeps both in the option.
		`/set irc.server.sc.command "/join #e2e\;/msg #e2e hello-from-weechat"`,
		"/connect sc",
	}
	wee := exec.Command(bin, "--dir", home, "--stdout", "--no-script", "-r", strings.Join(commands, ";"))
	out := &logBuffer{}
	wee.Stdout, wee.Stderr = out, out
	if err := wee.Start(); err != nil {
		t.Fatalf("start weechat: %v", err)
	}
	t.Cleanup(func() {
		_ = wee.Process.Kill()
		_ = wee.Wait()
		if t.Failed() {
			serverLog, _ := os.ReadFile(filepath.Join(home, "logs", "irc.server.sc.weechatlog"))
			t.Logf("weechat output:\n%s\nserver buffer:\n%s\ndaemon log:\n%s", out.String(), serverLog, d.stderr.String())
		}
	})

	raw.Expect(`^(@\S+ )?:wee!\S+ JOIN :?#e2e`)
	m := raw.Expect(`PRIVMSG #e2e :?hello-from-weechat$`)
	if m.Prefix == nil || m.Prefix.Name != "wee" {
		t.Errorf("hello-from-weechat came from %v, want wee", m.Prefix)
	}

	// The other way: WeeChat's logger writes what it shows in #e2e.
	raw.Send("PRIVMSG #e2e :hello-from-raw")
	chanLog := filepath.Join(home, "logs", "irc.sc.#e2e.weechatlog")
	waitForFile(t, chanLog, "rawclient\thello-from-raw", 15*time.Second)

	// And a private CTCP that WeeChat answers on its own.
	raw.Send("PRIVMSG wee :\x01VERSION\x01")
	raw.Expect(`^(@\S+ )?:wee!\S+ NOTICE rawclient :\x01VERSION .+\x01$`)
}

// weechatOptions returns the name of WeeChat's TLS server option ("ssl"
// before WeeChat 4.0, "tls" from 4.0 on) and the server options that turn
// off its outgoing anti-flood queue, which would hold the CTCP reply back
// for seconds.
func weechatOptions(t *testing.T, bin string) (tls, antiFlood string) {
	t.Helper()
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("weechat-headless --version: %v", err)
	}
	major, _, _ := strings.Cut(strings.TrimSpace(string(out)), ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		t.Fatalf("unexpected weechat version %q", out)
	}
	if n >= 4 {
		return "tls", "-anti_flood=0"
	}
	return "ssl", "-anti_flood_prio_high=0 -anti_flood_prio_low=0"
}

// waitForFile polls path until it contains want.
func waitForFile(t *testing.T, path, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not contain %q within %v; it holds:\n%s", path, want, timeout, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
