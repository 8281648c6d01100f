package ircd

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPackageBoundaries keeps the dependency rules of README "How it
// works": protocol code reaches crypto and store only through
// ircd/history, and history, transport and accounts know nothing of the
// server. push knows neither the server nor storage: the server seals and
// keeps the keys and subscriptions it marshals.
func TestPackageBoundaries(t *testing.T) {
	t.Parallel()
	forbidden := map[string][]string{
		".":         {"securechat/crypto", "securechat/store"},
		"history":   {"securechat/ircd", "securechat/ircd/transport"},
		"transport": {"securechat/ircd", "securechat/ircd/history", "securechat/crypto", "securechat/store"},
		"wire":      {"securechat/ircd", "securechat/ircd/history", "securechat/ircd/transport"},
		"push":      {"securechat/ircd", "securechat/ircd/history", "securechat/ircd/transport", "securechat/crypto", "securechat/store"},
		// accounts persists through history (Persister) and takes from
		// crypto only the password hash, which holds no key.
		"accounts": {"securechat/ircd", "securechat/ircd/transport", "securechat/store"},
		// cluster moves sealed bytes and opaque keys through Redis; the
		// server supplies the Sealer and the keyed hashes.
		"cluster": {"securechat/ircd", "securechat/ircd/history", "securechat/ircd/transport", "securechat/crypto", "securechat/store"},
	}
	for dir, bad := range forbidden {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, imp := range pkg.Imports {
			if slices.Contains(bad, imp) {
				t.Errorf("package %s imports %s", pkg.ImportPath, imp)
			}
		}
	}
}

// TestNoPrivateSocketTricks checks that no source file reads a socket
// through syscall.RawConn or speaks RESP by hand: sockets go through
// net.Conn and crypto/tls, Redis through go-redis.
func TestNoPrivateSocketTricks(t *testing.T) {
	t.Parallel()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "layout_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, banned := range []string{"syscall.RawConn", "SyscallConn()", `"*3\r\n$`} {
			if strings.Contains(string(src), banned) {
				t.Errorf("%s uses %q", path, banned)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
