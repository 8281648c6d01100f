package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFile writes content to name in dir and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writePair writes a fresh self-signed pair into dir and returns its paths.
func writePair(t *testing.T, dir, prefix string) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, prefix+"-cert.pem")
	keyFile = filepath.Join(dir, prefix+"-key.pem")
	if err := writeSelfSigned(certFile, keyFile, "test.example", time.Now()); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// errorLines splits a joined error into its lines.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// hasLinePrefix reports whether some line of err starts with prefix.
func hasLinePrefix(err error, prefix string) bool {
	for _, l := range errorLines(err) {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
