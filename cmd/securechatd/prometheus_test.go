package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"securechat/store/redistest"
)

// TestMetricsEndToEnd drives a session (a failed login, registrations, a
// channel, messages) and checks the daemon's /metrics moved accordingly,
// then has a real Prometheus, configured from deploy/prometheus.yml and
// deploy/alerts.yml, scrape the daemon and answer queries about it.
func TestMetricsEndToEnd(t *testing.T) {
	t.Parallel()
	promBin := lookTool(t, "prometheus")
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: []string{"--metrics-listen=127.0.0.1:0"}})
	if d.metricsAddr == "" {
		t.Fatalf("no metrics listener logged:\n%s", d.stderr.String())
	}
	base := "http://" + d.metricsAddr
	if code, body := httpGet(t, base+"/readyz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	before := scrape(t, base)

	bad := d.dial()
	bad.Send("PASS :wrong password")
	bad.Send("NICK intruder")
	bad.Send("USER intruder 0 * :i")
	if ls := bad.ExpectClosed(); !containsMatch(ls, ` 464 `) {
		t.Fatalf("wrong password not refused: %q", ls)
	}
	alice, _ := d.register("alice", roomPassword)
	bob, _ := d.register("bob", roomPassword)
	alice.JoinAndSync("#metrics")
	bob.JoinAndSync("#metrics")
	for i := range 3 {
		alice.Send("PRIVMSG #metrics :metric message %d", i)
		bob.Expect(fmt.Sprintf(`PRIVMSG #metrics :metric message %d$`, i))
	}

	// History is written behind the live path; wait for it.
	after := waitMetrics(t, base, func(m metricSet) bool {
		return m.get("securechat_history_appends_total", "") >= before.get("securechat_history_appends_total", "")+3 &&
			m.get("securechat_clients_connected", `listener="tls"`) == 2
	})
	for _, c := range []struct {
		name, labels string
		atLeast      float64
	}{
		{"securechat_registrations_total", `result="ok"`, 2},
		{"securechat_registrations_total", `result="bad_password"`, 1},
		{"securechat_auth_failures_total", "", 1},
		{"securechat_messages_received_total", `command="PRIVMSG"`, 3},
		{"securechat_fanout_deliveries_total", "", 3},
		{"securechat_history_appends_total", "", 3},
	} {
		if moved := after.get(c.name, c.labels) - before.get(c.name, c.labels); moved < c.atLeast {
			t.Errorf("%s{%s} moved by %v, want at least %v", c.name, c.labels, moved, c.atLeast)
		}
	}
	if got := after.get("securechat_channels", ""); got != 1 {
		t.Errorf("securechat_channels = %v, want 1", got)
	}

	// A real Prometheus scraping the daemon with the deployed config.
	promAddr := startPrometheus(t, promBin, d.metricsAddr)
	waitQuery(t, promAddr, `securechat_clients_connected{job="securechat",listener="tls"}`, "2")
	waitQuery(t, promAddr, `up{job="securechat"}`, "1")
	waitQuery(t, promAddr, `securechat_registrations_total{job="securechat",result="ok"}`, "2")
	checkRulesLoaded(t, promAddr)

	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz after the session: %d %q", code, body)
	}
}

// metricSet is a parsed text exposition: sample lines by "name{labels}".
type metricSet map[string]float64

// get sums the samples of name whose labels contain labels ("" for all).
func (m metricSet) get(name, labels string) float64 {
	sum := 0.0
	for k, v := range m {
		n, l, _ := strings.Cut(k, "{")
		if n == name && strings.Contains(l, labels) {
			sum += v
		}
	}
	return sum
}

func scrape(t *testing.T, base string) metricSet {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	m := metricSet{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		m[line[:i]] = v
	}
	return m
}

// waitMetrics scrapes until ok accepts the result, for up to 10 seconds.
func waitMetrics(t *testing.T, base string, ok func(metricSet) bool) metricSet {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := scrape(t, base)
		if ok(m) || time.Now().After(deadline) {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startPrometheus runs Prometheus with deploy/prometheus.yml, adjusted to
// scrape target every second and to load deploy/alerts.yml by absolute
// path, and returns its address once it is ready.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	deployDir, err := filepath.Abs(filepath.Join("..", "..", "deploy"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(deployDir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(t))
	conf := string(raw)
	for _, r := range []struct{ old, new string }{
		{"scrape_interval: 15s", "scrape_interval: 1s"},
		{"evaluation_interval: 15s", "evaluation_interval: 1s"},
		{"- alerts.yml", "- " + filepath.Join(deployDir, "alerts.yml")},
		{`"securechatd:9477"`, `"` + target + `"`},
		{`"localhost:9090"`, `"` + addr + `"`},
	} {
		if !strings.Contains(conf, r.old) {
			t.Fatalf("deploy/prometheus.yml no longer contains %q; update this test", r.old)
		}
		conf = strings.Replace(conf, r.old, r.new, 1)
	}
	dir := t.TempDir()
	confPath := filepath.Join(dir, "prometheus.yml")
	writeFile(t, confPath, conf, 0o644)
	cmd := exec.Command(bin, "--config.file="+confPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	out := &logBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus output:\n%s\nconfig:\n%s", out.String(), conf)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if code, _ := tryGet("http://" + addr + "/-/ready"); code == 200 {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready within 30s:\n%s", out.String())
		}
	}
}

// promResponse is the envelope of Prometheus's HTTP API.
type promResponse struct {
	Status string          `json:"status"`
	Data   json.RawMessage `json:"data"`
}

// waitQuery polls an instant query until it returns exactly one sample
// with value want, for up to 30 seconds.
func waitQuery(t *testing.T, promAddr, query, want string) {
	t.Helper()
	u := "http://" + promAddr + "/api/v1/query?" + url.Values{"query": {query}}.Encode()
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		code, body := httpGet(t, u)
		last = body
		var resp promResponse
		var data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		}
		if code == 200 && json.Unmarshal([]byte(body), &resp) == nil && resp.Status == "success" &&
			json.Unmarshal(resp.Data, &data) == nil && len(data.Result) == 1 && data.Result[0].Value[1] == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("query %s did not return one sample of %s within 30s; last answer: %s", query, want, last)
}

// checkRulesLoaded checks Prometheus loaded the securechat alert group
// from deploy/alerts.yml.
func checkRulesLoaded(t *testing.T, promAddr string) {
	t.Helper()
	code, body := httpGet(t, "http://"+promAddr+"/api/v1/rules")
	var resp promResponse
	var data struct {
		Groups []struct {
			Name  string            `json:"name"`
			File  string            `json:"file"`
			Rules []json.RawMessage `json:"rules"`
		} `json:"groups"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &resp) != nil || json.Unmarshal(resp.Data, &data) != nil {
		t.Fatalf("/api/v1/rules: %d %s", code, body)
	}
	for _, g := range data.Groups {
		if g.Name == "securechat" && strings.HasSuffix(g.File, "alerts.yml") && len(g.Rules) > 0 {
			return
		}
	}
	t.Errorf("alert group securechat not loaded: %s", body)
}

// tryGet is httpGet without failing the test, for readiness polls.
func tryGet(u string) (int, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestMetricsToken checks --metrics-token-file: /metrics wants the bearer
// token, while the probes stay open.
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "scrape-token-123\n", 0o600)
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword),
		args: []string{"--metrics-listen=127.0.0.1:0", "--metrics-token-file=" + tokenFile}})
	base := "http://" + d.metricsAddr
	if code, _ := httpGet(t, base+"/metrics"); code != http.StatusUnauthorized {
		t.Errorf("/metrics without token: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer scrape-token-123")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/metrics with token: %d", resp.StatusCode)
	}
	for _, p := range []string{"/readyz", "/healthz"} {
		if code, _ := httpGet(t, base+p); code != 200 {
			t.Errorf("%s: %d, want 200 without a token", p, code)
		}
	}
}

// TestHistoryIndexErrorIsCounted: Redis refuses the CHATHISTORY TARGETS
// index update (its key holds the wrong type). Messages are still stored,
// and the refusal shows in history_errors_total{op="index"} and the log.
func TestHistoryIndexErrorIsCounted(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword),
		args: []string{"--metrics-listen=127.0.0.1:0", "--redis=" + rs.URL()}})
	base := "http://" + d.metricsAddr
	if err := rs.Client().Set(t.Context(), "sc:targets", "not a sorted set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	alice, _ := d.register("alice", roomPassword)
	alice.JoinAndSync("#index")
	alice.Send("PRIVMSG #index :stored all the same")
	m := waitMetrics(t, base, func(m metricSet) bool {
		return m.get("securechat_history_errors_total", `op="index"`) >= 1
	})
	if got := m.get("securechat_history_errors_total", `op="index"`); got < 1 {
		t.Errorf(`history_errors_total{op="index"} = %v, want at least 1`, got)
	}
	if got := m.get("securechat_history_appends_total", ""); got < 1 {
		t.Errorf("history_appends_total = %v, want the message stored", got)
	}
	d.waitLog(regexp.MustCompile(`refused the CHATHISTORY TARGETS index update.*WRONGTYPE`), 5*time.Second)
}
