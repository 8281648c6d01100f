// Package webclient is the browser chat client the daemon serves at "/" on
// its HTTPS listener: a login page and a chat page in plain HTML, CSS and
// JavaScript, embedded in the binary, that speak IRC over the server's
// WebSocket endpoint. It knows nothing of the server beyond that URL.
package webclient

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// CSP is the Content-Security-Policy of every response: scripts, styles,
// images and sockets from the page's own origin only (CSP3 'self' covers
// wss: to the same host), no inline code, no plugins, no framing.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// HSTS is the Strict-Transport-Security value sent while STS is on.
const HSTS = "max-age=2592000"

// contentTypes fixes each served extension's type, so the system's MIME
// database cannot change what nosniff browsers accept.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Handler serves the client's files with security headers. hsts reports,
// per request, whether the server's Strict Transport Security policy is
// on; it may be nil.
func Handler(hsts func() bool) http.Handler {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	// embed.FS has no modification times; the start time lets browsers
	// revalidate cheaply, and a new binary changes it.
	started := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header(), hsts != nil && hsts())
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		ctype, known := contentTypes[path.Ext(name)]
		body, err := fs.ReadFile(static, name)
		if !known || err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, started, bytes.NewReader(body))
	})
}

// setSecurityHeaders sets the headers every response carries, 404s too.
func setSecurityHeaders(h http.Header, hsts bool) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if hsts {
		h.Set("Strict-Transport-Security", HSTS)
	}
}
