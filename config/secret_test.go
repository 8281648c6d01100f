package config

import (
	"os"
	"path/filepath"
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
