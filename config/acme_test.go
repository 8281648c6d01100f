package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/crypto/acme"
)

// acmeConfig returns a configuration with ACME on, for a CA that is never
// contacted: these tests cover what happens before issuance. The Pebble
// test in cmd/securechatd covers issuance itself.
func acmeConfig(t *testing.T) *Config {
	t.Helper()
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.ACMEDomain, cfg.ACMEDirectory = "chat.example.org", "https://127.0.0.1:1/dir"
	return &cfg
}

func TestACMECacheDirPrivate(t *testing.T) {
	t.Parallel()
	cfg := acmeConfig(t)
	cache := filepath.Join(cfg.DataDir, acmeCacheDir)
	if err := os.Mkdir(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := NewCertificates(cfg)
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, cache, os.ModeDir|0o700)
	if fp := c.Fingerprint(); fp != "" {
		t.Errorf("Fingerprint() = %q with ACME, want empty (nothing to pin)", fp)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, generatedCertName)); !os.IsNotExist(err) {
		t.Errorf("a self-signed certificate was generated alongside ACME: %v", err)
	}
}

func TestACMEChallengeALPN(t *testing.T) {
	t.Parallel()
	c, err := NewCertificates(acmeConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	tc := c.TLSConfig()
	if len(tc.NextProtos) != 0 {
		t.Errorf("NextProtos = %q for every client, want none so IRC clients offering any ALPN are served", tc.NextProtos)
	}
	tests := []struct {
		name      string
		protos    []string
		challenge bool
	}{
		{"validator", []string{acme.ALPNProto}, true},
		{"irc client without ALPN", nil, false},
		{"irc client with ALPN", []string{"irc"}, false},
		{"browser", []string{"h2", "http/1.1"}, false},
	}
	for _, tt := range tests {
		got, err := tc.GetConfigForClient(&tls.ClientHelloInfo{ServerName: "chat.example.org", SupportedProtos: tt.protos})
		switch {
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.challenge && (got == nil || !slices.Equal(got.NextProtos, []string{acme.ALPNProto})):
			t.Errorf("%s: got config %v, want one with NextProtos [%s]", tt.name, got, acme.ALPNProto)
		case tt.challenge && got.MinVersion != tls.VersionTLS12:
			t.Errorf("%s: challenge config lost the TLS 1.2 floor", tt.name)
		case !tt.challenge && got != nil:
			t.Errorf("%s: got a config of its own (NextProtos %q), want the listener's", tt.name, got.NextProtos)
		}
	}
}

func TestACMEReloadKeepsSettings(t *testing.T) {
	t.Parallel()
	cfg := acmeConfig(t)
	c, err := NewCertificates(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReloadWith(cfg); err != nil {
		t.Errorf("reload with the same settings: %v", err)
	}
	changed := *cfg
	changed.ACMEDomain = "other.example.org"
	off := *cfg
	off.ACMEDomain = ""
	for _, next := range []*Config{&changed, &off} {
		if err := c.ReloadWith(next); !hasLinePrefix(err, "acme-domain/") {
			t.Errorf("reload to acme-domain %q: %v, want a refusal naming the acme settings", next.ACMEDomain, err)
		}
	}
	self, _ := selfSigned(t)
	if err := self.ReloadWith(cfg); !hasLinePrefix(err, "acme-domain/") {
		t.Errorf("reload turning ACME on: %v, want a refusal", err)
	}
}

func TestACMESettingsFromEveryLayer(t *testing.T) {
	t.Parallel()
	file := writeFile(t, t.TempDir(), "securechat.conf", "acme-domain = chat.example.org\nacme-http-listen = :80\n")
	cfg, err := Load([]string{"--config", file, "--acme-email=ops@example.org"},
		[]string{"SECURECHAT_ACME_DIRECTORY=https://ca.example/dir"})
	if err != nil {
		t.Fatal(err)
	}
	got := acmeSettingsOf(cfg)
	want := acmeSettings{"chat.example.org", "https://ca.example/dir", "ops@example.org", ":80"}
	if got != want {
		t.Errorf("ACME settings = %+v, want %+v", got, want)
	}
	if def := Defaults(); def.ACMEDirectory != "https://acme-v02.api.letsencrypt.org/directory" {
		t.Errorf("default acme-directory = %q, want Let's Encrypt's", def.ACMEDirectory)
	}
}
