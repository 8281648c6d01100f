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
