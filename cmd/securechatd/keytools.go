package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"securechat/config"
	"securechat/crypto"
	"securechat/ircd/history"
)

// keyTool is one key-management subcommand; usage is its line in --help.
type keyTool struct {
	name, usage string
	run         func(args, env []string, stdin io.Reader, stdout io.Writer) error
}

// keyTools are the key-management subcommands, in the order --help lists
// them. Each takes the daemon's own flags (to find the store and the
// current password); new secrets are read from standard input, never from
// the command line.
var keyTools = []keyTool{
	{"passwd", "change the room password to one read from standard input; stop the daemon first", changePassword},
	{"rotate-key", "add a fresh data key for new history records; stop the daemon first", rotateKey},
	{"hash-password", "print the Argon2id hash of a password read from standard input, for oper lines", hashPassword},
}

// findKeyTool returns the subcommand called name.
func findKeyTool(name string) (keyTool, bool) {
	for _, t := range keyTools {
		if t.name == name {
			return t, true
		}
	}
	return keyTool{}, false
}

// changePassword re-wraps the keyring under a new room password read from
// stdin. Stop the daemon first: a running one keeps the old keyring.
func changePassword(args, env []string, stdin io.Reader, stdout io.Writer) error {
	cfg, oldPW, err := loadForKeys(args, env)
	if err != nil {
		return err
	}
	newPW, err := readSecretLine(stdin)
	if err != nil {
		return err
	}
	if len(newPW) < 8 {
		return errors.New("the new password must be at least 8 bytes")
	}
	st, err := openStore(context.Background(), cfg, nil, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := history.ChangePassword(context.Background(), st, oldPW, newPW, cfg.KeyEpoch); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Room password changed; history stays readable and the old password no longer works.")
	return updateGeneratedPassword(cfg, env, newPW, stdout)
}

// updateGeneratedPassword rewrites <data-dir>/room-password when that file
// is where the daemon gets its password, so the next start uses the new one.
func updateGeneratedPassword(cfg *config.Config, env []string, pw []byte, stdout io.Writer) error {
	if cfg.PasswordFile != "" || envSet(env, "SECURECHAT_PASSWORD") {
		fmt.Fprintln(stdout, "Now update your --password-file or SECURECHAT_PASSWORD before restarting the daemon.")
		return nil
	}
	path := filepath.Join(cfg.DataDir, "room-password")
	return os.WriteFile(path, append(pw, '\n'), 0o600)
}

// rotateKey adds a data key to the stored keyring (Redis, or the embedded
// store in the data directory). Stop the daemon first: the embedded store
// is locked while it runs, and a running one keeps the old keyring.
func rotateKey(args, env []string, _ io.Reader, stdout io.Writer) error {
	cfg, pw, err := loadForKeys(args, env)
	if err != nil {
		return err
	}
	st, err := openStore(context.Background(), cfg, nil, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := history.RotateKey(context.Background(), st, pw, cfg.KeyEpoch); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "New data key added; new records use it, old ones stay readable.")
	return nil
}

// hashPassword prints the Argon2id hash of a password read from stdin, for
// `oper = NAME HASH` lines in the config file.
func hashPassword(_, _ []string, stdin io.Reader, stdout io.Writer) error {
	pw, err := readSecretLine(stdin)
	if err != nil {
		return err
	}
	h, err := crypto.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}

func loadForKeys(args, env []string) (*config.Config, []byte, error) {
	cfg, err := config.Load(args, env)
	if err != nil {
		return nil, nil, err
	}
	pw, _, err := config.Password(cfg, env)
	return cfg, pw, err
}

func readSecretLine(r io.Reader) ([]byte, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, errors.New("expected the password on standard input")
	}
	return []byte(line), nil
}

func envSet(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}
