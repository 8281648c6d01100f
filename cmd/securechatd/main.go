// Command securechatd is the securechat IRC daemon. It wires config, store,
// keyring, metrics and the IRC server together; the logic lives in the
// packages. Subcommands passwd, rotate-key and hash-password manage keys.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"securechat/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "securechat-0.1.0"

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr))
}

func run(args, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if tool, ok := findKeyTool(args[0]); ok {
			if asksHelp(args[1:]) {
				toolUsage(stdout, tool)
				return 0
			}
			return report(stderr, tool.run(args[1:], env, stdin, stdout))
		}
	}
	if asksVersion(args) {
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	cfg, err := config.Load(args, env)
	if errors.Is(err, flag.ErrHelp) {
		config.Usage(stdout)
		subcommandUsage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "securechatd: invalid configuration:\n%v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.SlogLevel()}))
	return report(stderr, daemon(cfg, args, env, log, stdout, stderr))
}

func report(stderr io.Writer, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "securechatd: %v\n", err)
		return 1
	}
	return 0
}
