// Command securechat-load is securechat's load generator; see package load
// or run it with -h.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"securechat/cmd/securechat-load/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := load.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
