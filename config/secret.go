package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// passwordFileName is the generated room password's name inside DataDir.
const passwordFileName = "room-password"

// ReadSecretFile returns the contents of a one-line secret file such as
// the room password, the Redis password or the metrics token. Trailing
// line breaks are trimmed because editors add them; an empty secret or one
// spanning several lines is an error rather than a silent surprise.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading secret: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	switch {
	case s == "":
		return "", fmt.Errorf("secret file %s is empty", path)
	case strings.ContainsAny(s, "\r\n\x00"):
		return "", fmt.Errorf("secret file %s must hold a single line", path)
	}
	return s, nil
}

// Password returns the room password: the contents of cfg.PasswordFile,
// else SECURECHAT_PASSWORD from env, else <DataDir>/room-password, which is
// created with a fresh random password on first use. generated is true
// only when this call created that file, so the caller can print the
// password once for the operator to hand out.
func Password(cfg *Config, env []string) (pw []byte, generated bool, err error) {
	if cfg.PasswordFile != "" {
		s, err := ReadSecretFile(cfg.PasswordFile)
		if err != nil {
			return nil, false, fmt.Errorf("password-file: %w", err)
		}
		return []byte(s), false, nil
	}
	if s, ok := envMap(env)[envPrefix+"PASSWORD"]; ok {
		if s == "" || strings.ContainsAny(s, "\r\n\x00") {
			return nil, false, errors.New("SECURECHAT_PASSWORD: must be a non-empty single line")
		}
		return []byte(s), false, nil
	}
	return dataDirPassword(cfg.DataDir)
}

// dataDirPassword reads the generated password, creating it if missing.
func dataDirPassword(dir string) ([]byte, bool, error) {
	path := filepath.Join(dir, passwordFileName)
	s, err := ReadSecretFile(path)
	if err == nil {
		return []byte(s), false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("password: %w", err)
	}
	pw, err := generatePassword(dir, path)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between our read and our create.
		return dataDirPassword(dir)
	}
	return pw, err == nil, err
}

// generatePassword writes a new random password to path, mode 0600. It
// uses O_EXCL so an existing password is never overwritten.
func generatePassword(dir, path string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("password: creating data-dir: %w", err)
	}
	raw := make([]byte, 24) // 192 bits; 32 URL-safe characters to type or paste
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("password: %w", err)
	}
	pw := []byte(base64.RawURLEncoding.EncodeToString(raw))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("password: %w", err)
	}
	_, werr := f.Write(append(pw, '\n'))
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(path) // a partial password would be read back as the real one
		return nil, fmt.Errorf("password: writing %s: %w", path, err)
	}
	return pw, nil
}

// MinPasswordLength is the room password length below which the daemon
// warns at start: a copy of the store holds the keyring, so a short
// password can be guessed offline, one Argon2id run per guess, with no
// login throttle in the way.
const MinPasswordLength = 12

// validatePasswordFileMode refuses a room password file that every user
// of the machine can read, unless allow-insecure-password-file says that
// is intended: such a file gives away the password and, with a copy of
// the store, all history.
func validatePasswordFileMode(c *Config) error {
	perm, ok := passwordFilePerm(c)
	if !ok || perm&0o004 == 0 || c.AllowInsecurePasswordFile {
		return nil
	}
	return fmt.Errorf("password-file: %s is readable by everyone (mode %04o): chmod 600 it, or set allow-insecure-password-file",
		c.PasswordFile, perm)
}

// PasswordWarnings returns what the operator should be told at start about
// the room password pw and where it came from: a password file readable
// by its group or (when allowed) by everyone, or a password shorter than
// MinPasswordLength. The warnings never contain the password.
func PasswordWarnings(c *Config, pw []byte) []string {
	var warnings []string
	if perm, ok := passwordFilePerm(c); ok {
		switch {
		case perm&0o004 != 0:
			warnings = append(warnings, fmt.Sprintf("password-file %s is readable by everyone (mode %04o, allowed by allow-insecure-password-file): chmod 600 it", c.PasswordFile, perm))
		case perm&0o040 != 0:
			warnings = append(warnings, fmt.Sprintf("password-file %s is readable by its group (mode %04o): chmod 600 it unless everyone in the group may know the room password", c.PasswordFile, perm))
		}
	}
	if utf8.RuneCount(pw) < MinPasswordLength {
		warnings = append(warnings, fmt.Sprintf("the room password is shorter than %d characters: with a copy of the store it can be guessed offline; choose a longer one (securechatd passwd)", MinPasswordLength))
	}
	return warnings
}

// passwordFilePerm returns the permission bits of the configured password
// file; ok is false when there is none or it cannot be read (which
// validateSecretFiles reports).
func passwordFilePerm(c *Config) (perm fs.FileMode, ok bool) {
	if c.PasswordFile == "" {
		return 0, false
	}
	fi, err := os.Stat(c.PasswordFile)
	if err != nil {
		return 0, false
	}
	return fi.Mode().Perm(), true
}
