package config

import (
	"net"
	"strings"
	"testing"
)

// TestEncryptionOnByDefault guards the design promise: TLS and encryption
// are on by default and a plaintext listener exists only when asked for.
func TestEncryptionOnByDefault(t *testing.T) {
	t.Parallel()
	d := Defaults()
	if _, _, err := net.SplitHostPort(d.Listen); err != nil || d.Listen == "" {
		t.Errorf("Defaults().Listen = %q, want a TLS listen address", d.Listen)
	}
	if d.ListenPlain != "" || d.AllowInsecurePlaintext {
		t.Errorf("Defaults() has plaintext: ListenPlain=%q AllowInsecurePlaintext=%v", d.ListenPlain, d.AllowInsecurePlaintext)
	}
	cfg, err := Load(nil, nil)
	if err != nil {
		t.Fatalf("Load with no input: %v", err)
	}
	if cfg.Listen != d.Listen || cfg.ListenPlain != "" {
		t.Errorf("Load() listeners = %q / %q, want TLS only", cfg.Listen, cfg.ListenPlain)
	}
	if _, err := Load([]string{"--listen="}, nil); !hasLinePrefix(err, "listen:") {
		t.Errorf("an empty TLS listen address must be refused, got %v", err)
	}
}

// TestNoSettingDisablesEncryption checks the table has no switch that
// turns TLS or encryption off; the only plaintext knobs add a listener.
func TestNoSettingDisablesEncryption(t *testing.T) {
	t.Parallel()
	allowed := map[string]bool{"listen-plain": true, "allow-insecure-plaintext": true, "tls-cert": true, "tls-key": true,
		"allow-insecure-password-file": true} // a file-mode check, not encryption
	for _, s := range settings() {
		for _, word := range []string{"tls", "ssl", "encrypt", "plain", "insecure", "crypt", "disable"} {
			if strings.Contains(s.name, word) && !allowed[s.name] {
				t.Errorf("setting %q looks like it could turn encryption off", s.name)
			}
		}
	}
}

func TestSlogLevel(t *testing.T) {
	t.Parallel()
	for _, level := range []string{"debug", "info", "warn", "error"} {
		c := Config{LogLevel: level}
		if got := c.SlogLevel().String(); !strings.EqualFold(got, level) {
			t.Errorf("SlogLevel(%q) = %s", level, got)
		}
	}
}
