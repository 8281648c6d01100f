package webclient

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Result()
}

func TestFilesAndContentTypes(t *testing.T) {
	t.Parallel()
	h := Handler(nil)
	cases := []struct {
		path, ctype string
		status      int
	}{
		{"/", "text/html; charset=utf-8", 200},
		{"/index.html", "text/html; charset=utf-8", 200},
		{"/app.js", "text/javascript; charset=utf-8", 200},
		{"/irc.js", "text/javascript; charset=utf-8", 200},
		{"/style.css", "text/css; charset=utf-8", 200},
		{"/missing.js", "", 404},
		{"/../webclient.go", "", 404},
		{"/static/index.html", "", 404},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp := get(t, h, tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.ctype)
			}
			// Every response, 404s included, carries the headers.
			if resp.Header.Get("Content-Security-Policy") != CSP ||
				resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
				resp.Header.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("security headers missing: %v", resp.Header)
			}
			if resp.Header.Get("Strict-Transport-Security") != "" {
				t.Errorf("HSTS sent without an STS policy")
			}
		})
	}
}

func TestHSTSFollowsPolicy(t *testing.T) {
	t.Parallel()
	on := false
	h := Handler(func() bool { return on })
	if got := get(t, h, "/").Header.Get("Strict-Transport-Security"); got != "" {
		t.Fatalf("HSTS %q with the policy off", got)
	}
	on = true
	if got := get(t, h, "/").Header.Get("Strict-Transport-Security"); got != HSTS {
		t.Fatalf("HSTS %q with the policy on, want %q", got, HSTS)
	}
}

// TestNoInlineOrForeignCode keeps the page within its CSP: no inline
// script or style, no third-party origin, no HTML built from strings.
func TestNoInlineOrForeignCode(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"index.html", "app.js", "irc.js", "style.css"} {
		src, err := files.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		text := string(src)
		for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
			"eval(", "new Function", " style=", " onclick", " onload", "<style", "localStorage", "sessionStorage", "//cdn", "http://"} {
			if strings.Contains(text, banned) {
				t.Errorf("%s contains %q", name, banned)
			}
		}
		if name == "index.html" && strings.Count(text, "<script") != strings.Count(text, `<script type="module" src="/`) {
			t.Errorf("index.html has a script that is not a same-origin module file")
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		header []string
		want   bool
	}{
		{"absent", nil, false},
		{"gzip", []string{"gzip"}, true},
		{"browser list", []string{"gzip, deflate, br, zstd"}, true},
		{"case and spaces", []string{" GZip ;q=0.5"}, true},
		{"x-gzip", []string{"x-gzip"}, true},
		{"refused", []string{"gzip;q=0"}, false},
		{"refused with decimals", []string{"br, gzip;q=0.000"}, false},
		{"star", []string{"*"}, true},
		{"star refused", []string{"*;q=0"}, false},
		{"gzip beats star", []string{"*, gzip;q=0"}, false},
		{"other codings only", []string{"br, deflate"}, false},
		{"identity", []string{"identity"}, false},
		{"bad weight", []string{"gzip;q=high"}, false},
		{"weight over 1", []string{"gzip;q=2"}, false},
		{"split over two headers", []string{"br", "gzip"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := acceptsGzip(tc.header); got != tc.want {
				t.Errorf("acceptsGzip(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

// TestCompressedAndRevalidated checks each file's two representations:
// gzip only when asked for, Vary on both, an ETag apiece, and a 304 with
// no body when the browser already holds the one it would get.
func TestCompressedAndRevalidated(t *testing.T) {
	t.Parallel()
	h := Handler(nil)
	for _, name := range []string{"/", "/app.js", "/irc.js", "/style.css"} {
		t.Run(name, func(t *testing.T) {
			fetch := func(enc, etag string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodGet, name, nil)
				if enc != "" {
					req.Header.Set("Accept-Encoding", enc)
				}
				if etag != "" {
					req.Header.Set("If-None-Match", etag)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec
			}
			plain, gz := fetch("", ""), fetch("gzip, br", "")
			if plain.Header().Get("Content-Encoding") != "" || gz.Header().Get("Content-Encoding") != "gzip" {
				t.Fatalf("Content-Encoding %q without gzip, %q with", plain.Header().Get("Content-Encoding"), gz.Header().Get("Content-Encoding"))
			}
			for _, rec := range []*httptest.ResponseRecorder{plain, gz} {
				if rec.Code != 200 || rec.Header().Get("Vary") != "Accept-Encoding" || rec.Header().Get("ETag") == "" {
					t.Errorf("status %d, Vary %q, ETag %q", rec.Code, rec.Header().Get("Vary"), rec.Header().Get("ETag"))
				}
			}
			if plain.Header().Get("ETag") == gz.Header().Get("ETag") {
				t.Errorf("both representations have ETag %s", plain.Header().Get("ETag"))
			}
			if gz.Body.Len() >= plain.Body.Len() {
				t.Errorf("gzip body %d bytes, plain %d", gz.Body.Len(), plain.Body.Len())
			}
			if rec := fetch("gzip", gz.Header().Get("ETag")); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
				t.Errorf("revalidating the gzip copy: %d with %d bytes", rec.Code, rec.Body.Len())
			}
			if rec := fetch("", plain.Header().Get("ETag")); rec.Code != http.StatusNotModified {
				t.Errorf("revalidating the plain copy: %d", rec.Code)
			}
			// The tag of the other representation does not validate this one.
			if rec := fetch("gzip", plain.Header().Get("ETag")); rec.Code != 200 {
				t.Errorf("plain ETag accepted for the gzip copy: %d", rec.Code)
			}
		})
	}
}
