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
// wss: to the same host), no inline code, no plugins, no framing. The
// service worker, sw.js, falls under script-src 'self' (worker-src is
// unset), so it needs no directive of its own.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// HSTS is the Strict-Transport-Security value sent while STS is on.
const HSTS = "max-age=2592000"

// Handler serves the client's files with security headers, gzip-compressed
// to browsers that accept it. The files are read and compressed once, here,
// so a request only copies bytes. hsts reports, per request, whether the
// server's Strict Transport Security policy is on; it may be nil.
func Handler(hsts func() bool) http.Handler {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	assets, err := loadAssets(static)
	if err != nil {
		panic(err) // embedded bytes that do not compress: a broken build
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header(), hsts != nil && hsts())
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		a := assets[name]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		a.serve(w, r)
	})
}

// serve writes the representation of a that r accepts. Every response
// names Accept-Encoding in Vary, so caches keep the two apart, and carries
// that representation's ETag: with no-cache a reload costs a 304 per file.
func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Add("Vary", "Accept-Encoding")
	body, etag := a.raw, a.etag
	if a.gz != nil && acceptsGzip(r.Header.Values("Accept-Encoding")) {
		body, etag = a.gz, a.gzETag
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	// A zero time sends no Last-Modified: the ETag alone validates.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
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
