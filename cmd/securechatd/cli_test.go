package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelpListsSubcommands: --help names every subcommand and --version,
// and a subcommand's --help explains it instead of running it.
func TestHelpListsSubcommands(t *testing.T) {
	t.Parallel()
	res := runTool(t, "", nil, "--help")
	if res.code != 0 {
		t.Fatalf("--help: exit %d; stderr:\n%s", res.code, res.stderr)
	}
	for _, want := range []string{"securechatd passwd ", "securechatd rotate-key ", "securechatd hash-password ", "securechatd --version"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, res.stdout)
		}
	}
	for _, tool := range keyTools {
		res := runTool(t, "", nil, tool.name, "--help")
		if res.code != 0 || !strings.HasPrefix(res.stdout, "Usage: securechatd "+tool.name+" ") ||
			!strings.Contains(res.stdout, tool.usage) {
			t.Errorf("%s --help: exit %d, stdout:\n%s\nstderr:\n%s", tool.name, res.code, res.stdout, res.stderr)
		}
	}
}

// TestVersion: --version prints the release, the build and the Go version
// and exits 0; a release set with -ldflags -X shows up.
func TestVersion(t *testing.T) {
	t.Parallel()
	line := regexp.MustCompile(`^securechatd (\S+) \((.+)\) (go\S+) (\S+/\S+)\n$`)
	res := runTool(t, "", nil, "--version")
	m := line.FindStringSubmatch(res.stdout)
	if res.code != 0 || m == nil {
		t.Fatalf("--version: exit %d, stdout %q, want %s", res.code, res.stdout, line)
	}
	if m[1] != version || m[3] != runtime.Version() || m[4] != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("--version = %q; want release %s, %s, %s/%s", res.stdout, version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}

	stamped := filepath.Join(t.TempDir(), "securechatd")
	build := exec.Command(goTool(), "build", "-ldflags=-X main.version=v9.8.7-test", "-o", stamped, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags: %v\n%s", err, out)
	}
	out, err := exec.Command(stamped, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "securechatd v9.8.7-test (") {
		t.Errorf("stamped --version = %q, %v; want it to start with the -X release", out, err)
	}
}

// TestMakeRunInterrupt runs `make run` as a terminal would and presses
// Ctrl-C: SIGINT reaches make and the daemon together, and after the
// daemon's clean shutdown make must exit 0 without an error. (`go run`
// exits 1 whenever it is interrupted, whatever its child did, which is
// why make run builds the binary and runs it.)
func TestMakeRunInterrupt(t *testing.T) {
	t.Parallel()
	mk := lookTool(t, "make")
	cmd := exec.Command(mk, "--no-print-directory", "-C", filepath.Join("..", ".."), "run", "GO="+goTool())
	cmd.Env = childEnv(passwordEnv(roomPassword)...)
	cmd.Env = append(cmd.Env, "SECURECHAT_LISTEN=127.0.0.1:0", "SECURECHAT_METRICS_LISTEN=",
		"SECURECHAT_DATA_DIR="+t.TempDir())
	out := &logBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, like a terminal's foreground job
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	deadline := time.Now().Add(2 * time.Minute) // make run compiles first
	for !listeningRe.MatchString(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("make run did not start the daemon; output:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		// make itself got the SIGINT too and, as any interrupted program
		// should, dies of it once its recipe ends; what must not happen is
		// a failed recipe, which make reports as "make: *** [...] Error 1".
		if !exitedCleanlyOrInterrupted(err) || strings.Contains(out.String(), "make: ***") {
			t.Fatalf("make run after Ctrl-C: %v; output:\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("make run still running 30s after SIGINT; output:\n%s", out.String())
	}
	if !strings.Contains(out.String(), `msg="shutting down" signal=interrupt`) {
		t.Errorf("the daemon did not log its shutdown; output:\n%s", out.String())
	}
}

// exitedCleanlyOrInterrupted reports whether a process exited 0 or was
// ended by SIGINT.
func exitedCleanlyOrInterrupted(err error) bool {
	if err == nil {
		return true
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGINT
}
