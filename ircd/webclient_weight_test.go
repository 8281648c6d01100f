package ircd

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// assetRefs finds what a page, script or stylesheet loads: src and href
// attributes, module imports, and CSS url()s.
var assetRefs = regexp.MustCompile(`(?:src|href)="([^"]+)"|(?:from|import)\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)["']?\s*\)`)

// pageBudget is issue 15's target for loading the web client.
const pageBudget = 200 << 10

// webFetch is one file fetched from the web listener: the bytes that
// crossed the wire and the response's headers.
type webFetch struct {
	wire   []byte
	header http.Header
	status int
}

// fetchAsset gets u over the TLS client with the given Accept-Encoding
// and If-None-Match ("" for none).
func fetchAsset(t *testing.T, client *http.Client, u, enc, etag string) webFetch {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if enc != "" {
		req.Header.Set("Accept-Encoding", enc)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return webFetch{wire: body, header: resp.Header, status: resp.StatusCode}
}

// decoded returns f's body as the browser sees it.
func (f webFetch) decoded(t *testing.T) []byte {
	t.Helper()
	switch enc := f.header.Get("Content-Encoding"); enc {
	case "":
		return f.wire
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(f.wire))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("corrupt gzip body: %v", err)
		}
		return b
	default:
		t.Fatalf("Content-Encoding %q", enc)
		return nil
	}
}

// TestWebClientPageWeight fetches "/" and everything it loads, transitively,
// from the real TLS listener as a browser would (asking for gzip), and
// checks that each file arrives gzip-compressed, decompresses to the
// embedded bytes, arrives the same uncompressed to a client that does not
// ask for gzip, revalidates with a 304, and that the whole page stays
// within the budget of bytes transferred.
func TestWebClientPageWeight(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	base, err := url.Parse(ts.startWebClient())
	if err != nil {
		t.Fatal(err)
	}
	// DisableCompression keeps the transport from asking for gzip or
	// decompressing by itself, so the body read is what crossed the wire.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ts.tlsConf, DisableCompression: true}}
	seen := map[string]bool{}
	queue := []*url.URL{base}
	total := 0
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if seen[u.String()] {
			continue
		}
		seen[u.String()] = true
		gz := fetchAsset(t, client, u.String(), "gzip, deflate, br, zstd", "")
		if gz.status != http.StatusOK {
			t.Fatalf("%s: status %d", u.Path, gz.status)
		}
		body := checkAsset(t, client, u, gz)
		t.Logf("%-12s %6d bytes gzip, %6d plain", u.Path, len(gz.wire), len(body))
		total += len(gz.wire)
		for _, m := range assetRefs.FindAllStringSubmatch(string(body), -1) {
			ref, err := u.Parse(m[1] + m[2] + m[3])
			if err != nil {
				t.Fatalf("%s references %q: %v", u.Path, m[0], err)
			}
			if ref.Host != base.Host || ref.Scheme != base.Scheme {
				t.Errorf("%s loads %s from another origin", u.Path, ref)
				continue
			}
			ref.Fragment = ""
			queue = append(queue, ref)
		}
	}
	if len(seen) < 4 {
		t.Errorf("fetched %d files; the page loads at least index.html, style.css, app.js and irc.js", len(seen))
	}
	t.Logf("%d files, %d bytes transferred (budget %d)", len(seen), total, pageBudget)
	if total > pageBudget {
		t.Errorf("the web client weighs %d bytes, over the %d byte budget", total, pageBudget)
	}
}

// checkAsset checks the file at u, fetched with gzip as gz, against the
// embedded file and the uncompressed response, and returns its bytes.
func checkAsset(t *testing.T, client *http.Client, u *url.URL, gz webFetch) []byte {
	t.Helper()
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		name = "index.html"
	}
	// The test runs in ircd/, where the embedded directory lies.
	embedded, err := os.ReadFile(filepath.Join("webclient", "static", name))
	if err != nil {
		t.Fatalf("%s is served but not embedded: %v", u.Path, err)
	}
	plain := fetchAsset(t, client, u.String(), "", "")
	if gz.header.Get("Content-Encoding") != "gzip" || plain.header.Get("Content-Encoding") != "" {
		t.Errorf("%s: Content-Encoding %q when asked for gzip, %q when not", u.Path,
			gz.header.Get("Content-Encoding"), plain.header.Get("Content-Encoding"))
	}
	if !bytes.Equal(gz.decoded(t), embedded) || !bytes.Equal(plain.wire, embedded) {
		t.Errorf("%s: the bytes served differ from the embedded file", u.Path)
	}
	for _, f := range []webFetch{gz, plain} {
		if f.header.Get("Vary") != "Accept-Encoding" || f.header.Get("Content-Security-Policy") == "" ||
			f.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: Vary %q, security headers %v", u.Path, f.header.Get("Vary"), f.header)
		}
	}
	etag := gz.header.Get("ETag")
	if again := fetchAsset(t, client, u.String(), "gzip", etag); again.status != http.StatusNotModified || len(again.wire) != 0 {
		t.Errorf("%s: revalidating ETag %s gave %d with %d bytes, want a bare 304", u.Path, etag, again.status, len(again.wire))
	}
	return embedded
}
