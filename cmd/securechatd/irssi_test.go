package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIrssi drives an unmodified irssi (Debian's, 1.4) with the README's
// recipe, read from the README itself: it must pin the certificate by the
// fingerprint the daemon logged, log in with SASL PLAIN, join a channel
// and talk with a raw client in both directions. With a wrong pin it must
// not get as far as registering.
func TestIrssi(t *testing.T) {
	t.Parallel()
	const pw = "irssi-e2e-password" // no spaces: it goes on an irssi command line
	d := startDaemon(t, daemonSpec{env: passwordEnv(pw)})
	raw, _ := d.register("rawclient", pw)
	raw.JoinAndSync("#e2e")
	recipe := readmeIrssiRecipe(t)
	host, port, _ := net.SplitHostPort(d.addr)
	fill := strings.NewReplacer("<room password>", pw, "<SHA256 fingerprint>", d.fingerprint, "host 6697", host+" "+port)

	// Run once registered, in order on one connection: JOIN, then PRIVMSG.
	after := `/network modify -autosendcmd "/join #e2e\; /msg #e2e hello-from-irssi" sc`
	good := startIrssi(t, "irssinick", append(fillAll(fill, recipe[:len(recipe)-1]), after, fill.Replace(recipe[len(recipe)-1])))
	raw.Expect(`^(@\S+ )?:irssinick!\S+ JOIN :?#e2e`)
	m := raw.Expect(`PRIVMSG #e2e :?hello-from-irssi$`)
	if m.Prefix == nil || m.Prefix.Name != "irssinick" {
		t.Errorf("hello-from-irssi came from %v, want irssinick", m.Prefix)
	}
	raw.Send("PRIVMSG #e2e :hello-from-raw")
	waitForFile(t, good.log, "rawclient> hello-from-raw", 15*time.Second)

	// The same recipe with someone else's certificate pinned.
	wrong := "00" + d.fingerprint[2:]
	if wrong == d.fingerprint {
		wrong = "11" + d.fingerprint[2:]
	}
	badFill := strings.NewReplacer("<room password>", pw, "<SHA256 fingerprint>", wrong, "host 6697", host+" "+port)
	bad := startIrssi(t, "irssibad", fillAll(badFill, recipe))
	waitForFile(t, bad.log, "Pinned certificate mismatch", 15*time.Second)
	raw.Sync() // the daemon has handled everything up to here
	if strings.Contains(d.stderr.String(), "nick=irssibad") {
		t.Errorf("irssi with a wrong pin registered:\n%s", d.stderr.String())
	}
}

// readmeIrssiRecipe returns the irssi commands of the README's "Connecting
// a client" list, in order, with their placeholders.
func readmeIrssiRecipe(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, item, ok := strings.Cut(string(readme), "\n- **irssi**")
	item, _, _ = strings.Cut(item, "\n- **")
	var cmds []string
	for _, m := range regexp.MustCompile("`(/[^`]+)`").FindAllStringSubmatch(item, -1) {
		cmds = append(cmds, strings.Join(strings.Fields(m[1]), " "))
	}
	if !ok || len(cmds) != 3 || !strings.HasPrefix(cmds[2], "/connect ") {
		t.Fatalf("README's irssi recipe not found as three commands ending in /connect: %q", cmds)
	}
	return cmds
}

func fillAll(r *strings.Replacer, cmds []string) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = r.Replace(c)
	}
	return out
}

// irssiRun is one irssi running headless.
type irssiRun struct {
	log string // everything irssi shows, as its /log writes it
}

// startIrssi runs irssi under a pseudo-terminal (util-linux script: irssi
// needs a terminal) with a throw-away home whose startup file logs every
// window to a file and then runs commands. It quits irssi when the test ends.
func startIrssi(t *testing.T, nick string, commands []string) irssiRun {
	t.Helper()
	bin, script := lookTool(t, "irssi"), lookTool(t, "script")
	home := t.TempDir()
	run := irssiRun{log: filepath.Join(home, "all.log")}
	startup := append([]string{"/log open " + run.log + " ALL", "/set settings_autosave off"}, commands...)
	writeFile(t, filepath.Join(home, "startup"), strings.Join(startup, "\n")+"\n", 0o600)
	cmd := exec.Command(script, "--quiet", "--flush", "--return", "--command",
		fmt.Sprintf("%s --home=%s --nick=%s", bin, home, nick), "/dev/null")
	cmd.Env = append(childEnv(), "TERM=xterm")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // script and irssi die together
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	screen := &logBuffer{}
	cmd.Stdout, cmd.Stderr = screen, screen
	if err := cmd.Start(); err != nil {
		t.Fatalf("start irssi: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_, _ = io.WriteString(stdin, "/quit\r")
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(run.log)
			t.Logf("irssi %s log:\n%s", nick, log)
		}
	})
	return run
}
