package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSecretFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content, want string
		wantErr             bool
	}{
		{name: "plain", content: "s3cret", want: "s3cret"},
		{name: "trailing newline", content: "s3cret\n", want: "s3cret"},
		{name: "crlf", content: "s3cret\r\n", want: "s3cret"},
		{name: "inner spaces kept", content: " a b \n", want: " a b "},
		{name: "empty", content: "", wantErr: true},
		{name: "only newline", content: "\n\n", wantErr: true},
		{name: "two lines", content: "a\nb\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadSecretFile(writeFile(t, t.TempDir(), "secret", tt.content))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ReadSecretFile = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := ReadSecretFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file must be an error")
	}
}

func TestPasswordSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := writeFile(t, dir, "pw", "from-file\n")
	tests := []struct {
		name     string
		file     string
		env      []string
		want     string
		wantErr  bool
		wantFile bool // room-password must not be created
	}{
		{name: "file wins over env", file: file, env: []string{"SECURECHAT_PASSWORD=from-env"}, want: "from-file"},
		{name: "env when no file", env: []string{"SECURECHAT_PASSWORD=from-env"}, want: "from-env"},
		{name: "empty env is an error", env: []string{"SECURECHAT_PASSWORD="}, wantErr: true},
		{name: "missing file is an error", file: filepath.Join(dir, "missing"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Defaults()
			cfg.PasswordFile, cfg.DataDir = tt.file, filepath.Join(t.TempDir(), "data")
			pw, generated, err := Password(&cfg, tt.env)
			if (err != nil) != tt.wantErr || string(pw) != tt.want || generated {
				t.Fatalf("Password = %q, %v, %v; want %q, error %v", pw, generated, err, tt.want, tt.wantErr)
			}
			if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
				t.Errorf("data-dir was created although a password was given")
			}
		})
	}
}

func TestPasswordGenerated(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.DataDir = filepath.Join(t.TempDir(), "nested", "data")
	first, generated, err := Password(&cfg, nil)
	if err != nil || !generated || len(first) < 32 {
		t.Fatalf("first Password = %q, %v, %v; want a new strong password", first, generated, err)
	}
	path := filepath.Join(cfg.DataDir, "room-password")
	assertMode(t, path, 0o600)
	assertMode(t, cfg.DataDir, 0o700|os.ModeDir)

	again, generated, err := Password(&cfg, nil)
	if err != nil || generated || string(again) != string(first) {
		t.Errorf("second Password = %q, %v, %v; want the stored %q, not generated", again, generated, err, first)
	}
	fromEnv, generated, err := Password(&cfg, []string{"SECURECHAT_PASSWORD=override"})
	if err != nil || generated || string(fromEnv) != "override" {
		t.Errorf("with env Password = %q, %v, %v; want the env value", fromEnv, generated, err)
	}
	other := Defaults()
	other.DataDir = filepath.Join(t.TempDir(), "data")
	if pw, _, _ := Password(&other, nil); string(pw) == string(first) {
		t.Error("two generated passwords are equal")
	}
}

func TestPasswordStoredEmpty(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	writeFile(t, cfg.DataDir, "room-password", "\n")
	if _, _, err := Password(&cfg, nil); err == nil {
		t.Error("an empty room-password file must be an error, not silently replaced")
	}
}

// assertMode fails unless path has exactly mode (type and permissions).
func assertMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != mode {
		t.Errorf("%s mode = %v, want %v", path, fi.Mode(), mode)
	}
}

// TestPasswordFileMode: a password file readable by everyone is refused
// unless allowed, one readable by its group starts with a warning, and a
// short password is warned about whatever its source.
func TestPasswordFileMode(t *testing.T) {
	t.Parallel()
	long, short := "a long enough room password", "short-pw-11"
	tests := []struct {
		name      string
		mode      os.FileMode
		pw        string
		allow     bool
		wantErr   bool
		wantWarns []string // substrings, one per warning, in order
	}{
		{name: "owner only", mode: 0o600, pw: long},
		{name: "owner read-only", mode: 0o400, pw: long},
		{name: "group readable", mode: 0o640, pw: long, wantWarns: []string{"readable by its group (mode 0640)"}},
		{name: "world readable refused", mode: 0o644, pw: long, wantErr: true},
		{name: "world readable allowed", mode: 0o644, pw: long, allow: true, wantWarns: []string{"readable by everyone (mode 0644"}},
		{name: "short password", mode: 0o600, pw: short, wantWarns: []string{"shorter than 12 characters"}},
		{name: "twelve characters is enough", mode: 0o600, pw: "exactly-12ch"},
		{name: "both", mode: 0o640, pw: short, wantWarns: []string{"readable by its group", "shorter than 12"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, t.TempDir(), "room.pw", tt.pw+"\n")
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			args := []string{"--password-file", path}
			if tt.allow {
				args = append(args, "--allow-insecure-password-file")
			}
			cfg, err := Load(args, nil)
			if tt.wantErr {
				if !hasLinePrefix(err, "password-file: "+path+" is readable by everyone (mode 0644)") {
					t.Fatalf("Load = %v; want the world-readable refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			pw, _, err := Password(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			warns := PasswordWarnings(cfg, pw)
			if len(warns) != len(tt.wantWarns) {
				t.Fatalf("warnings %q, want %d matching %q", warns, len(tt.wantWarns), tt.wantWarns)
			}
			for i, w := range warns {
				if !strings.Contains(w, tt.wantWarns[i]) || strings.Contains(w, tt.pw) {
					t.Errorf("warning %q: want %q in it and no password", w, tt.wantWarns[i])
				}
			}
		})
	}
	if w := PasswordWarnings(&Config{}, []byte("tiny")); len(w) != 1 {
		t.Errorf("SECURECHAT_PASSWORD (no file) of 4 characters: warnings %q, want the length one", w)
	}
}
