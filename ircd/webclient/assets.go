package webclient

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// contentTypes fixes each served extension's type, so the system's MIME
// database cannot change what nosniff browsers accept. Files of other
// types are not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// asset is one file of the client, ready to serve: its bytes as embedded
// and, when that is smaller, gzip-compressed, each with its own entity tag
// (two representations must not share a strong ETag). Read-only after
// loadAssets, so any number of requests may share it.
type asset struct {
	ctype        string
	raw, gz      []byte // gz is nil when compressing does not pay
	etag, gzETag string
}

// loadAssets reads every servable file of static and compresses it once,
// keyed by its path below static.
func loadAssets(static fs.FS) (map[string]*asset, error) {
	assets := map[string]*asset{}
	err := fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		ctype, known := contentTypes[path.Ext(name)]
		if err != nil || d.IsDir() || !known {
			return err
		}
		raw, err := fs.ReadFile(static, name)
		if err != nil {
			return err
		}
		a := &asset{ctype: ctype, raw: raw, etag: entityTag(raw, "")}
		gz, err := compress(raw)
		if err != nil {
			return fmt.Errorf("webclient: compressing %s: %w", name, err)
		}
		if len(gz) < len(raw) {
			a.gz, a.gzETag = gz, entityTag(raw, "-gz")
		}
		assets[name] = a
		return nil
	})
	return assets, err
}

// compress gzips b at the best ratio: it runs once per file at start, so
// only the bytes sent on every page load count.
func compress(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// entityTag derives a strong ETag from the file's content, so it stays
// the same across restarts and changes with any edit of the file.
func entityTag(raw []byte, suffix string) string {
	sum := sha256.Sum256(raw)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + suffix + `"`
}

// acceptsGzip reports whether an Accept-Encoding request header allows
// gzip (RFC 9110, section 12.5.3): named with a nonzero weight, or left
// unnamed under a nonzero "*". No header means identity only.
func acceptsGzip(header []string) bool {
	gzipQ, starQ := -1.0, -1.0 // -1: not named
	for _, h := range header {
		for _, item := range strings.Split(h, ",") {
			coding, params, _ := strings.Cut(item, ";")
			q := weight(params)
			switch strings.ToLower(strings.TrimSpace(coding)) {
			case "gzip", "x-gzip":
				gzipQ = q
			case "*":
				starQ = q
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// weight returns the q parameter of an Accept-Encoding item, 1 if absent
// and 0 if unreadable, so a malformed weight never turns an encoding on.
func weight(params string) float64 {
	for _, p := range strings.Split(params, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(name, "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil || q < 0 || q > 1 {
				return 0
			}
			return q
		}
	}
	return 1
}
