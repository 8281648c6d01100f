package config

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testHash = "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2g"

func TestPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		file       string // config file content; empty: no file
		env        []string
		args       []string
		wantReplay int
		wantListen string
	}{
		{name: "defaults", wantReplay: 50, wantListen: ":6697"},
		{name: "file over default", file: "replay = 10\nlisten = :7000\n", wantReplay: 10, wantListen: ":7000"},
		{name: "env over file", file: "replay = 10\nlisten = :7000\n", env: []string{"SECURECHAT_REPLAY=20"}, wantReplay: 20, wantListen: ":7000"},
		{name: "flag over env", file: "replay = 10\n", env: []string{"SECURECHAT_REPLAY=20"}, args: []string{"--replay=30"}, wantReplay: 30, wantListen: ":6697"},
		{name: "flag over file", file: "listen = :7000\n", args: []string{"--listen", ":8000"}, wantReplay: 50, wantListen: ":8000"},
		{name: "env alone", env: []string{"SECURECHAT_LISTEN=127.0.0.1:7001"}, wantReplay: 50, wantListen: "127.0.0.1:7001"},
		{name: "last flag wins", args: []string{"--replay=1", "-replay=2"}, wantReplay: 2, wantListen: ":6697"},
		{name: "later env duplicate wins", env: []string{"SECURECHAT_REPLAY=5", "SECURECHAT_REPLAY=6"}, wantReplay: 6, wantListen: ":6697"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, t.TempDir(), "securechat.conf", tt.file)}, args...)
			}
			cfg, err := Load(args, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Replay != tt.wantReplay || cfg.Listen != tt.wantListen {
				t.Errorf("Replay, Listen = %d, %q; want %d, %q", cfg.Replay, cfg.Listen, tt.wantReplay, tt.wantListen)
			}
		})
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fromEnv := writeFile(t, dir, "env.conf", "network = envnet\n")
	fromFlag := writeFile(t, dir, "flag.conf", "network = flagnet\n")
	tests := []struct {
		name, want string
		args       []string
	}{
		{name: "env names the file", want: "envnet"},
		{name: "flag beats env for the file", want: "flagnet", args: []string{"--config=" + fromFlag}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(tt.args, []string{"SECURECHAT_CONFIG=" + fromEnv})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Network != tt.want {
				t.Errorf("Network = %q, want %q", cfg.Network, tt.want)
			}
		})
	}
}

func TestEveryKind(t *testing.T) {
	t.Parallel()
	args := []string{
		"--listen-plain=[::1]:6667", "--store-direct=false", "--allow-insecure-plaintext",
		"--history-max-age=7d", "--key-epoch=90m", "--sendq=512KiB", "--flood-rate=0.5",
		"--flood-exempt=10.0.0.0/8, 192.168.1.7 ,2001:db8::/32",
		"--web-origins= chat.example.org,,*.example.net ",
	}
	env := []string{"SECURECHAT_LISTEN_PLAIN_IGNORED=x", "SECURECHAT_LOG_LEVEL=debug"}
	cfg, err := Load(args, env)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ListenPlain", cfg.ListenPlain, "[::1]:6667"},
		{"StoreDirect", cfg.StoreDirect, false},
		{"AllowInsecurePlaintext", cfg.AllowInsecurePlaintext, true},
		{"HistoryMaxAge", cfg.HistoryMaxAge, 7 * 24 * time.Hour},
		{"KeyEpoch", cfg.KeyEpoch, 90 * time.Minute},
		{"SendQ", cfg.SendQ, 512 << 10},
		{"FloodRate", cfg.FloodRate, 0.5},
		{"FloodExempt", cfg.FloodExempt, want},
		{"LogLevel", cfg.LogLevel, "debug"},
		{"WebOrigins", cfg.WebOrigins, []string{"chat.example.org", "*.example.net"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestFloodExemptCIDRs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value string
		want        []string
		wantErr     bool
	}{
		{name: "empty", value: "", want: nil},
		{name: "one v4", value: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{name: "masked", value: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{name: "bare v4 is one host", value: "127.0.0.1", want: []string{"127.0.0.1/32"}},
		{name: "bare v6 is one host", value: "::1", want: []string{"::1/128"}},
		{name: "list with spaces", value: " 10.0.0.0/8 , fd00::/8 ,", want: []string{"10.0.0.0/8", "fd00::/8"}},
		{name: "bad prefix length", value: "10.0.0.0/33", wantErr: true},
		{name: "not an address", value: "example.org", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load([]string{"--flood-exempt=" + tt.value}, nil)
			if tt.wantErr {
				if !hasLinePrefix(err, "flood-exempt:") {
					t.Fatalf("want a flood-exempt error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range cfg.FloodExempt {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FloodExempt = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestValidation checks that each problem is reported on a line that
// starts with the setting's name, so the operator knows what to fix.
func TestValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := writePair(t, dir, "good")
	empty := writeFile(t, dir, "empty", "\n")
	secret := writeFile(t, dir, "secret", "s3cret\n")
	notDir := writeFile(t, dir, "plainfile", "x")
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name string
		args []string
		want string // prefix of one error line; empty: no error
	}{
		{"valid tls pair", []string{"--tls-cert", cert, "--tls-key", key}, ""},
		{"valid secrets", []string{"--password-file", secret, "--redis-password-file", secret, "--metrics-token-file", secret}, ""},
		{"plaintext on loopback v4", []string{"--listen-plain=127.0.0.1:6667"}, ""},
		{"plaintext on loopback v6", []string{"--listen-plain=[::1]:6667"}, ""},
		{"plaintext on localhost", []string{"--listen-plain=localhost:6667"}, ""},
		{"plaintext anywhere when allowed", []string{"--listen-plain=:6667", "--allow-insecure-plaintext"}, ""},
		{"rediss url", []string{"--redis=rediss://user@redis.example:6380/2"}, ""},
		{"metrics off", []string{"--metrics-listen="}, ""},
		{"zero disables conn limits", []string{"--max-conns-per-ip=0", "--conn-rate-per-ip=0", "--auth-fail-limit=0", "--replay=0"}, ""},
		{"listen without port", []string{"--listen=localhost"}, "listen:"},
		{"listen bad port", []string{"--listen=:70000"}, "listen:"},
		{"listen empty", []string{"--listen="}, "listen:"},
		{"listen-plain bad", []string{"--listen-plain=nope"}, "listen-plain:"},
		{"listen-plain same as listen", []string{"--listen-plain=:6697", "--allow-insecure-plaintext"}, "listen-plain:"},
		{"plaintext on all interfaces", []string{"--listen-plain=:6667"}, "listen-plain:"},
		{"plaintext on public address", []string{"--listen-plain=192.0.2.1:6667"}, "listen-plain:"},
		{"plaintext on a host name", []string{"--listen-plain=irc.example.org:6667"}, "listen-plain:"},
		{"metrics-listen bad", []string{"--metrics-listen=9477"}, "metrics-listen:"},
		{"web on", []string{"--web-listen=:8443", "--web-origins=chat.example.org,*.example.net,https://a.example"}, ""},
		{"web-listen bad", []string{"--web-listen=8443"}, "web-listen:"},
		{"web-origins bad pattern", []string{"--web-origins=chat.example.org,[bad"}, "web-origins:"},
		{"tls-cert without key", []string{"--tls-cert", cert}, "tls-key:"},
		{"tls-key without cert", []string{"--tls-key", key}, "tls-cert:"},
		{"tls files unreadable", []string{"--tls-cert", missing, "--tls-key", key}, "tls-cert/tls-key:"},
		{"tls cert and key swapped", []string{"--tls-cert", key, "--tls-key", cert}, "tls-cert/tls-key:"},
		{"password file empty", []string{"--password-file", empty}, "password-file:"},
		{"password file missing", []string{"--password-file", missing}, "password-file:"},
		{"redis password file empty", []string{"--redis-password-file", empty}, "redis-password-file:"},
		{"metrics token missing", []string{"--metrics-token-file", missing}, "metrics-token-file:"},
		{"motd missing", []string{"--motd-file", missing}, "motd-file:"},
		{"data-dir is a file", []string{"--data-dir", notDir}, "data-dir:"},
		{"data-dir empty", []string{"--data-dir="}, "data-dir:"},
		{"server-name with space", []string{"--server-name=my server"}, "server-name:"},
		{"server-name without dot", []string{"--server-name=irc"}, "server-name:"},
		{"network with space", []string{"--network=my net"}, "network:"},
		{"log level unknown", []string{"--log-level=verbose"}, "log-level:"},
		{"redis http scheme", []string{"--redis=http://localhost:6379"}, "redis:"},
		{"redis no scheme", []string{"--redis=localhost:6379"}, "redis:"},
		{"redis cluster seeds", []string{"--redis=redis://10.0.0.1:6379?addr=10.0.0.2:6379", "--redis-cluster"}, ""},
		{"redis cluster without url", []string{"--redis-cluster"}, "redis-cluster:"},
		{"redis password in url", []string{"--redis=redis://:hunter2@localhost:6379"}, "redis:"},
		{"bad duration", []string{"--ping-interval=soon"}, "ping-interval:"},
		{"bad days", []string{"--history-max-age=xd"}, "history-max-age:"},
		{"zero duration", []string{"--registration-timeout=0s"}, "registration-timeout:"},
		{"negative duration", []string{"--auth-fail-window=-1m"}, "auth-fail-window:"},
		{"bad int", []string{"--replay=lots"}, "replay:"},
		{"bad float", []string{"--flood-rate=fast"}, "flood-rate:"},
		{"bad bool", []string{"--store-direct=maybe"}, "store-direct:"},
		{"bad size", []string{"--sendq=1MB"}, "sendq:"},
		{"negative replay", []string{"--replay=-1"}, "replay:"},
		{"replay beyond history", []string{"--replay=20", "--history-max-len=10"}, "replay:"},
		{"negative max conns", []string{"--max-conns-per-ip=-1"}, "max-conns-per-ip:"},
		{"negative conn rate", []string{"--conn-rate-per-ip=-0.5"}, "conn-rate-per-ip:"},
		{"negative auth fail limit", []string{"--auth-fail-limit=-2"}, "auth-fail-limit:"},
		{"zero flood rate", []string{"--flood-rate=0"}, "flood-rate:"},
		{"zero flood burst", []string{"--flood-burst=0"}, "flood-burst:"},
		{"zero history", []string{"--history-max-len=0", "--replay=0"}, "history-max-len:"},
		{"zero write queue", []string{"--write-queue-size=0"}, "write-queue-size:"},
		{"tiny sendq", []string{"--sendq=100"}, "sendq:"},
		{"bad cidr", []string{"--flood-exempt=10.0.0.0/99"}, "flood-exempt:"},
		{"acme", []string{"--acme-domain=chat.example.org", "--acme-email=ops@example.org", "--acme-http-listen=:80", "--acme-directory=https://ca.example/dir"}, ""},
		{"acme with cert files", []string{"--acme-domain=chat.example.org", "--tls-cert", cert, "--tls-key", key}, "acme-domain:"},
		{"acme domain without dot", []string{"--acme-domain=chat"}, "acme-domain:"},
		{"acme domain an address", []string{"--acme-domain=192.0.2.1"}, "acme-domain:"},
		{"acme directory not https", []string{"--acme-domain=chat.example.org", "--acme-directory=http://ca.example/dir"}, "acme-directory:"},
		{"acme email not an address", []string{"--acme-domain=chat.example.org", "--acme-email=ops"}, "acme-email:"},
		{"acme http listen bad", []string{"--acme-domain=chat.example.org", "--acme-http-listen=80"}, "acme-http-listen:"},
		{"acme email without domain", []string{"--acme-email=ops@example.org"}, "acme-email:"},
		{"acme http listen without domain", []string{"--acme-http-listen=:80"}, "acme-http-listen:"},
		{"webpush subject mailto", []string{"--webpush-subject=mailto:ops@example.org"}, ""},
		{"webpush subject https", []string{"--webpush-subject=https://chat.example.org"}, ""},
		{"webpush subject bare address", []string{"--webpush-subject=ops@example.org"}, "webpush-subject:"},
		{"webpush subject http", []string{"--webpush-subject=http://chat.example.org"}, "webpush-subject:"},
		{"webpush subject empty mailto", []string{"--webpush-subject=mailto:"}, "webpush-subject:"},
		{"cluster", []string{"--cluster", "--redis=redis://localhost:6379", "--node-id=Node-1.eu_west", "--cluster-lease=2s", "--drain"}, ""},
		{"cluster lease bounds", []string{"--cluster-lease=1s"}, ""},
		{"cluster lease upper bound", []string{"--cluster-lease=60s"}, ""},
		{"cluster without redis", []string{"--cluster"}, "cluster:"},
		{"node-id too long", []string{"--node-id=" + strings.Repeat("n", 65)}, "node-id:"},
		{"node-id longest", []string{"--node-id=" + strings.Repeat("n", 64)}, ""},
		{"node-id with brace", []string{"--node-id=a{b}"}, "node-id:"},
		{"node-id with space", []string{"--node-id=node 1"}, "node-id:"},
		{"node-id with colon", []string{"--node-id=node:1"}, "node-id:"},
		{"cluster-lease too short", []string{"--cluster-lease=500ms"}, "cluster-lease:"},
		{"cluster-lease too long", []string{"--cluster-lease=61s"}, "cluster-lease:"},
		{"cluster-lease zero", []string{"--cluster-lease=0s"}, "cluster-lease:"},
		{"cluster-lease not a duration", []string{"--cluster-lease=long"}, "cluster-lease:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(tt.args, nil)
			if tt.want == "" {
				if err != nil || cfg == nil {
					t.Fatalf("Load(%q) = %v, want no error", tt.args, err)
				}
				return
			}
			if cfg != nil || !hasLinePrefix(err, tt.want) {
				t.Fatalf("Load(%q) error = %v, want a line starting %q", tt.args, err, tt.want)
			}
			if n := len(errorLines(err)); n != 1 {
				t.Errorf("want exactly one problem, got %d:\n%v", n, err)
			}
		})
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	env := []string{"SECURECHAT_REPLAY=many", "SECURECHAT_LOG_LEVEL=loud"}
	args := []string{"--listen=bad", "--redis=http://x", "--flood-exempt=nope"}
	_, err := Load(args, env)
	for _, want := range []string{"replay:", "log-level:", "listen:", "redis:", "flood-exempt:"} {
		if !hasLinePrefix(err, want) {
			t.Errorf("missing a %q line in:\n%v", want, err)
		}
	}
	if !strings.Contains(err.Error(), "environment SECURECHAT_REPLAY") {
		t.Errorf("a bad environment value should name its variable:\n%v", err)
	}
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantHelp bool
		want     string
	}{
		{name: "short help", args: []string{"-h"}, wantHelp: true},
		{name: "long help", args: []string{"--help"}, wantHelp: true},
		{name: "unknown flag", args: []string{"--colour=blue"}, want: "colour"},
		{name: "password is not a flag", args: []string{"--password=x"}, want: "password"},
		{name: "stray argument", args: []string{"serve"}, want: "serve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tt.args, nil)
			if got := errors.Is(err, flag.ErrHelp); got != tt.wantHelp {
				t.Fatalf("errors.Is(%v, flag.ErrHelp) = %v, want %v", err, got, tt.wantHelp)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v should mention %q", err, tt.want)
			}
		})
	}
}

func TestConfigFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		want    string // substring of the error; empty: no error
	}{
		{"comments and blanks", "# top\n\n   # indented\nnetwork = n   # trailing\n", ""},
		{"hash inside value", "motd-file =\nserver-name = a.b\nnetwork = x#y\n", ""},
		{"unknown key names the line", "network = n\n\ncolour = blue\n", ":3: unknown setting \"colour\""},
		{"password refused", "password = hunter2\n", ":1: password is not allowed"},
		{"config refused", "config = other.conf\n", ":1: \"config\" cannot be set"},
		{"no equals sign", "network n\n", ":1: want `name = value`"},
		{"empty key", "= n\n", ":1: want `name = value`"},
		{"duplicate key", "replay = 1\nreplay = 2\n", ":2: replay already set at"},
		{"bad value names the line", "\nreplay = x\n", "replay: invalid value \"x\" (from "},
		{"oper without hash", "oper = alice\n", ":1: oper: want"},
		{"oper with plain password", "oper = alice hunter2\n", ":1: oper: alice: want an Argon2id hash"},
		{"oper defined twice", "oper = alice " + testHash + "\noper = Alice " + testHash + "\n", "oper: Alice is defined twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, t.TempDir(), "securechat.conf", tt.content)
			_, err := Load([]string{"--config", path}, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if strings.HasPrefix(tt.want, ":") && !strings.Contains(err.Error(), path+tt.want) {
				t.Errorf("error %v should name the file %s", err, path)
			}
		})
	}
}

func TestConfigFileMissing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.conf")
	_, err := Load([]string{"--config", path, "--replay=x"}, nil)
	if !errors.Is(err, os.ErrNotExist) || !hasLinePrefix(err, "config:") || !hasLinePrefix(err, "replay:") {
		t.Errorf("want a config: line (not found) and still the replay: line, got %v", err)
	}
}

func TestOpers(t *testing.T) {
	t.Parallel()
	content := "oper = alice " + testHash + "\n  oper   =   bob\t" + testHash + "  # admin\n"
	path := writeFile(t, t.TempDir(), "securechat.conf", content)
	cfg, err := Load([]string{"--config=" + path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Oper{{"alice", testHash}, {"bob", testHash}}
	if !reflect.DeepEqual(cfg.Opers, want) {
		t.Errorf("Opers = %+v, want %+v", cfg.Opers, want)
	}
	if cfg.ConfigFile != path {
		t.Errorf("ConfigFile = %q, want %q", cfg.ConfigFile, path)
	}
}

// TestRoundTrip checks each row renders its default in a form it parses
// back, which Usage and ReferenceMarkdown rely on.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	def := Defaults()
	def.FloodExempt = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, s := range settings() {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			var c Config
			if err := s.set(&c, s.get(&def)); err != nil {
				t.Fatalf("set(%q): %v", s.get(&def), err)
			}
			if got, want := s.get(&c), s.get(&def); got != want {
				t.Errorf("round trip = %q, want %q", got, want)
			}
		})
	}
}

func TestDurationAndSizeFormats(t *testing.T) {
	t.Parallel()
	durations := map[string]time.Duration{"30d": 30 * 24 * time.Hour, "1m30s": 90 * time.Second, "1h30m": 90 * time.Minute, "1m": time.Minute, "2h": 2 * time.Hour, "0s": 0}
	for text, d := range durations {
		if got := formatDuration(d); got != text {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, text)
		}
	}
	sizes := map[string]int{"1MiB": 1 << 20, "512KiB": 512 << 10, "1000": 1000, "2GiB": 2 << 30}
	for text, n := range sizes {
		if got, err := parseBytes(text); err != nil || got != n {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", text, got, err, n)
		}
	}
	if _, err := parseBytes("3GiB"); err == nil {
		t.Error("parseBytes(3GiB) should overflow a 32-bit int budget")
	}
}
