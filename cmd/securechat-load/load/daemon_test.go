package load

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startDaemon builds cmd/securechatd and runs it on loopback with the
// given password, returning its IRC and metrics addresses and PID.
func startDaemon(t *testing.T, password string, extra ...string) (addr, metrics string, pid int) {
	t.Helper()
	dir := t.TempDir()
	bin := buildDaemon(t, dir)
	addr, metrics = freePort(t), freePort(t)
	args := append([]string{"--listen", addr, "--data-dir", filepath.Join(dir, "data"),
		"--flood-exempt", "127.0.0.0/8,::1/128", "--metrics-listen", metrics}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "SECURECHAT_PASSWORD="+password)
	logf, err := os.Create(filepath.Join(dir, "securechatd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start securechatd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("securechatd log:\n%s", b)
		}
		logf.Close()
	})
	waitListening(t, addr)
	return addr, "http://" + metrics + "/metrics", cmd.Process.Pid
}

// buildDaemon builds cmd/securechatd into dir.
func buildDaemon(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "securechatd")
	build := exec.Command("go", "build", "-o", bin, "securechat/cmd/securechatd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build securechatd: %v\n%s", err, out)
	}
	return bin
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("securechatd did not listen on %s", addr)
}

// TestSteadyAgainstDaemon runs the steady scenario against the real daemon
// over TLS: 50 users in 5 channels, 5 senders, about 3 seconds.
func TestSteadyAgainstDaemon(t *testing.T) {
	addr, metrics, pid := startDaemon(t, "integration-pw")
	res := runAgainst(t, "--addr", addr, "--scenario", "steady", "--users", "50", "--channels", "5",
		"--senders", "5", "--rate", "200", "--warmup", "500ms", "--duration", "2500ms", "--drain", "5s",
		"--metrics-url", metrics, "--server-pid", itoa(pid))
	m := res.Messages
	if res.Connect.OK != 50 || m.Received == 0 || res.DeliveryRate == 0 {
		t.Fatalf("connected %d, received %d", res.Connect.OK, m.Received)
	}
	if m.Lost != 0 || m.Duplicates != 0 || m.Reordered != 0 || m.Foreign != 0 || res.Errors.Total != 0 {
		t.Errorf("messages %+v errors %+v", *m, res.Errors)
	}
	if res.Server == nil || res.Server.Error != "" || res.Server.Deltas["securechat_fanout_deliveries_total"] < float64(m.Received) {
		t.Errorf("server metrics: %+v", res.Server)
	}
}

// TestSteadyOverWebSocket runs the steady scenario against the real
// daemon's web listener: every user speaks IRC over wss://…/ws, one line
// per message, and no message may be lost, duplicated or reordered.
func TestSteadyOverWebSocket(t *testing.T) {
	web := freePort(t)
	addr, _, _ := startDaemon(t, "integration-pw", "--web-listen", web)
	waitListening(t, web)
	res := runAgainst(t, "--addr", addr, "--transport", "ws", "--web-addr", web, "--scenario", "steady",
		"--users", "40", "--channels", "4", "--senders", "4", "--rate", "200",
		"--warmup", "500ms", "--duration", "2s", "--drain", "5s")
	m := res.Messages
	if res.Transport != "ws" || res.Addr != web {
		t.Errorf("result says transport %q addr %q", res.Transport, res.Addr)
	}
	if res.Connect.OK != 40 || m.Received == 0 || res.LatencyMS == nil || res.LatencyMS.Count == 0 {
		t.Fatalf("connected %d, received %d", res.Connect.OK, m.Received)
	}
	if m.Lost != 0 || m.Duplicates != 0 || m.Reordered != 0 || m.Foreign != 0 || res.Errors.Total != 0 {
		t.Errorf("messages %+v errors %+v", *m, res.Errors)
	}
}

// TestSteadyMixedTransports runs steady with every channel's members
// alternating between TLS IRC and WebSocket, and checks both halves
// receive everything and are reported apart.
func TestSteadyMixedTransports(t *testing.T) {
	web := freePort(t)
	addr, _, _ := startDaemon(t, "integration-pw", "--web-listen", web)
	waitListening(t, web)
	res := runAgainst(t, "--addr", addr, "--transport", "mixed", "--web-addr", web, "--scenario", "steady",
		"--users", "40", "--channels", "4", "--senders", "8", "--rate", "200",
		"--warmup", "500ms", "--duration", "2s", "--drain", "5s")
	if res.Connect.OK != 40 || res.Errors.Total != 0 {
		t.Fatalf("connected %d, errors %+v", res.Connect.OK, res.Errors)
	}
	for _, tr := range []string{"tcp", "ws"} {
		b := res.ByTransport[tr]
		if b == nil || b.Users != 20 || b.Messages.Received == 0 || b.LatencyMS.Count == 0 {
			t.Fatalf("%s: %+v", tr, b)
		}
		if m := b.Messages; m.Lost != 0 || m.Duplicates != 0 || m.Reordered != 0 {
			t.Errorf("%s: messages %+v", tr, *m)
		}
	}
	if sum := res.ByTransport["tcp"].Messages.Received + res.ByTransport["ws"].Messages.Received; sum != res.Messages.Received {
		t.Errorf("per transport %d received, in all %d", sum, res.Messages.Received)
	}
}

// TestChurnAgainstDaemon runs the churn scenario against the real daemon:
// 38 churners reconnecting 20 times a second in all, after a baseline
// window. Every rejoin must replay the daemon's default 50 messages (the
// preload fills the channels first), and no live message may be lost.
func TestChurnAgainstDaemon(t *testing.T) {
	addr, _, _ := startDaemon(t, "integration-pw")
	res := runAgainst(t, "--addr", addr, "--scenario", "churn", "--users", "40", "--channels", "2",
		"--senders", "2", "--rate", "40", "--churn-fraction", "1", "--churn-rate", "20", "--churn-offline", "100ms",
		"--warmup", "500ms", "--baseline", "1s", "--duration", "2s", "--drain", "5s")
	if res.Connect.OK != 40 {
		t.Fatalf("connected %d of 40", res.Connect.OK)
	}
	checkChurn(t, res, 20, 50)
	// Reconnects resume their TLS session, as phone clients do.
	if ch := res.Churn; ch.TLSResumed != ch.Rejoins {
		t.Errorf("%d of %d rejoins resumed their TLS session", ch.TLSResumed, ch.Rejoins)
	}
	// A rejoiner sees nothing of the channel before its own JOIN.
	if res.Messages.Foreign != 0 {
		t.Errorf("%d messages arrived outside a joined window", res.Messages.Foreign)
	}
}

// runAgainst runs the load generator with args against the daemon started
// with password integration-pw and logs its summary.
func runAgainst(t *testing.T, args ...string) *Result {
	t.Helper()
	cfg, err := ParseArgs(args, func(k string) string { return map[string]string{"SECURECHAT_PASSWORD": "integration-pw"}[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), cfg, nil, false)
	var b strings.Builder
	WriteSummary(&b, res)
	t.Log("\n" + b.String())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func itoa(n int) string { return strconv.Itoa(n) }
