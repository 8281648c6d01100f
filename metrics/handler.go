package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HandlerOptions configures Handler. The zero value serves /metrics without
// authentication and reports ready all the time.
type HandlerOptions struct {
	// Token, if not empty, is required as "Authorization: Bearer <Token>"
	// on /metrics. /healthz and /readyz stay open for orchestrator probes;
	// they reveal nothing but liveness.
	Token string
	// Ready reports whether the server can take clients (listeners up,
	// store reachable). A nil Ready means always ready.
	Ready func() error
	// Logger receives errors from gathering metrics. Nil discards them.
	Logger *slog.Logger
}

// Handler returns an http.Handler serving /metrics (the metrics gathered
// from g), /healthz (200 "ok" whenever the process serves HTTP) and /readyz
// (200 "ok" when opts.Ready returns nil, else 503 with the error text). It is
// safe for concurrent use.
func Handler(g prometheus.Gatherer, opts HandlerOptions) http.Handler {
	metrics := promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog: errorLog{opts.Logger},
		// A collector that fails should not blank the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
		// Gathering walks every collector; cap concurrent scrapes so a
		// misbehaving scraper cannot pile them up.
		MaxRequestsInFlight: 4,
	})
	if opts.Token != "" {
		metrics = requireToken(opts.Token, metrics)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		serveReady(w, opts.Ready)
	})
	return mux
}

func serveReady(w http.ResponseWriter, ready func() error) {
	if ready != nil {
		if err := ready(); err != nil {
			writeText(w, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	writeText(w, http.StatusOK, "ok")
}

// requireToken wraps next so it only runs for requests bearing token.
// Both sides are hashed before the constant-time compare so that neither
// the content nor the length of the token leaks through timing.
func requireToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="securechat metrics"`)
			writeText(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearer returns the credentials of a Bearer authorization header. The
// scheme is case-insensitive (RFC 9110, section 11.1).
func bearer(header string) (string, bool) {
	const scheme = "Bearer "
	if len(header) < len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	return header[len(scheme):], true
}

func writeText(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(text + "\n"))
}

// errorLog adapts slog to promhttp's Println-only logger interface.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Println(v ...any) {
	if e.log != nil {
		e.log.Error("metrics: gathering failed", "err", strings.TrimSpace(fmt.Sprintln(v...)))
	}
}
