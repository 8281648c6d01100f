package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestPrometheusScrapes runs the real Prometheus (Debian's 2.42) against
// Handler with a bearer token, the way deploy/prometheus.yml is meant to be
// extended, and waits until a securechat series is queryable. It proves the
// exposition format, content negotiation and token check work together.
func TestPrometheusScrapes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, "e2e")
	m.MessagesIn.WithLabelValues(CommandLabel("PRIVMSG")).Add(7)
	target := httptest.NewServer(Handler(reg, HandlerOptions{Token: "tok"}))
	t.Cleanup(target.Close)

	api, logFile := startPrometheus(t, target.Listener.Addr().String(), "tok")
	query := `securechat_messages_received_total{command="PRIVMSG"}`
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := queryValue(api, query)
		if err == nil && v == "7" {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("Prometheus never saw %s = 7 (last: %q, %v); its log:\n%s", query, v, err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startPrometheus runs prometheus scraping target every 100ms with the given
// bearer token. It returns the base URL of its HTTP API and its log file.
func startPrometheus(t *testing.T, target, token string) (api, logFile string) {
	t.Helper()
	bin := lookPrometheusTool(t, "prometheus")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	config := fmt.Sprintf(`global: {scrape_interval: 100ms, scrape_timeout: 100ms}
scrape_configs:
  - job_name: securechat
    authorization: {credentials_file: %q}
    static_configs: [{targets: [%q]}]
`, tokenFile, target)
	for name, body := range map[string]string{"token": token, "prometheus.yml": config} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	logFile = filepath.Join(dir, "prometheus.log")
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close() // the child keeps its own descriptor
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	return "http://" + addr, logFile
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// queryValue runs an instant query and returns the value of its only sample.
func queryValue(api, query string) (string, error) {
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", err
	}
	if len(r.Data.Result) != 1 {
		return "", fmt.Errorf("%d series", len(r.Data.Result))
	}
	v, _ := r.Data.Result[0].Value[1].(string)
	return v, nil
}

// TestDashboardQueriesReturnData runs every dashboard query against the real
// Prometheus scraping a server whose every collector, the cluster ones
// included, has been updated: a query that names a wrong label, joins on a
// label the series lack or filters everything away returns no series and
// fails here, where promtool's parse check would pass it.
func TestDashboardQueriesReturnData(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	touchAll(New(reg, "e2e"))
	target := httptest.NewServer(Handler(reg, HandlerOptions{Token: "tok"}))
	t.Cleanup(target.Close)
	api, logFile := startPrometheus(t, target.Listener.Addr().String(), "tok")

	// A rate needs two scrapes inside its window; scrapes come every 100ms.
	vars := strings.NewReplacer("$__rate_interval", "2s", "$instance", ".*")
	pending := map[string]string{} // query -> panel
	for _, e := range dashboardExprs(t) {
		pending[vars.Replace(e.expr)] = e.panel
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(pending) > 0 && time.Now().Before(deadline) {
		for q := range pending {
			if n, err := querySeries(api, q); err == nil && n > 0 {
				delete(pending, q)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for q, panel := range pending {
		n, err := querySeries(api, q)
		t.Errorf("panel %q: %s returns %d series (%v)", panel, q, n, err)
	}
	if t.Failed() {
		log, _ := os.ReadFile(logFile)
		t.Logf("Prometheus log:\n%s", log)
	}
}

// querySeries runs an instant query and returns how many series it gave.
func querySeries(api, query string) (int, error) {
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s: %s", r.Status, r.Error)
	}
	return len(r.Data.Result), nil
}
