package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// get performs a request against h and returns the status and body.
func get(t *testing.T, h http.Handler, method, path, auth string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func TestHandlerScrape(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, "v9")
	touchAll(m)
	code, body := get(t, Handler(reg, HandlerOptions{}), "GET", "/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	for name := range wantFamilies() {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("scrape lacks %s", name)
		}
	}
	if !strings.Contains(body, `securechat_messages_received_total{command="PRIVMSG"} 1`) {
		t.Errorf("scrape lacks the PRIVMSG counter:\n%s", body)
	}
}

func TestHandlerToken(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(reg, "test")
	h := Handler(reg, HandlerOptions{Token: "s3cret"})
	cases := []struct {
		name, auth string
		want       int
	}{
		{"none", "", http.StatusUnauthorized},
		{"wrong", "Bearer nope", http.StatusUnauthorized},
		{"prefix", "Bearer s3cre", http.StatusUnauthorized},
		{"longer", "Bearer s3cret2", http.StatusUnauthorized},
		{"basic", "Basic czNjcmV0", http.StatusUnauthorized},
		{"bare", "s3cret", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"right", "Bearer s3cret", http.StatusOK},
		{"scheme case", "bearer s3cret", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, h, "GET", "/metrics", tc.auth)
			if code != tc.want {
				t.Fatalf("status %d, want %d", code, tc.want)
			}
			if code == http.StatusOK && !strings.Contains(body, "securechat_build_info") {
				t.Error("authorized scrape lacks securechat_build_info")
			}
			if code != http.StatusOK && strings.Contains(body, "securechat_") {
				t.Error("unauthorized response leaks metrics")
			}
		})
	}
	// Probes stay open: a kubelet or systemd check has no token.
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := get(t, h, "GET", path, ""); code != http.StatusOK {
			t.Errorf("GET %s without token = %d, want 200", path, code)
		}
	}
}

func TestHandlerReadyz(t *testing.T) {
	t.Parallel()
	var notReady atomic.Pointer[error]
	ready := func() error {
		if err := notReady.Load(); err != nil {
			return *err
		}
		return nil
	}
	h := Handler(prometheus.NewRegistry(), HandlerOptions{Ready: ready})
	check := func(path string, wantCode int, wantBody string) {
		t.Helper()
		code, body := get(t, h, "GET", path, "")
		if code != wantCode || strings.TrimSpace(body) != wantBody {
			t.Errorf("GET %s = %d %q, want %d %q", path, code, body, wantCode, wantBody)
		}
	}
	check("/readyz", http.StatusOK, "ok")
	err := errors.New("store: redis unreachable")
	notReady.Store(&err)
	check("/readyz", http.StatusServiceUnavailable, "store: redis unreachable")
	check("/healthz", http.StatusOK, "ok")
	notReady.Store(nil)
	check("/readyz", http.StatusOK, "ok")
}

func TestHandlerRoutes(t *testing.T) {
	t.Parallel()
	h := Handler(prometheus.NewRegistry(), HandlerOptions{})
	cases := []struct {
		method, path string
		want         int
	}{
		{"GET", "/healthz", http.StatusOK},
		{"HEAD", "/healthz", http.StatusOK},
		{"GET", "/readyz", http.StatusOK},
		{"POST", "/metrics", http.StatusMethodNotAllowed},
		{"GET", "/", http.StatusNotFound},
		{"GET", "/debug/pprof/", http.StatusNotFound},
	}
	for _, tc := range cases {
		if code, _ := get(t, h, tc.method, tc.path, ""); code != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, code, tc.want)
		}
	}
}

// TestScrapePassesPromtoolLint runs a full scrape through `promtool check
// metrics`, which enforces Prometheus naming conventions (units, _total on
// counters, help text).
func TestScrapePassesPromtoolLint(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	touchAll(New(reg, "test"))
	_, body := get(t, Handler(reg, HandlerOptions{}), "GET", "/metrics", "")
	promtoolStdin(t, body, "check", "metrics")
}
