package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
)

// subcommandUsage ends --help: config.Usage lists the settings, this the
// subcommands and --version, which are not settings.
func subcommandUsage(w io.Writer) {
	fmt.Fprintln(w, "\nSubcommands (they take the settings above, to find the store and the room password):")
	for _, t := range keyTools {
		fmt.Fprintf(w, "  securechatd %s [--setting=value ...]\n\t%s\n", t.name, t.usage)
	}
	fmt.Fprintln(w, "\n  securechatd --version\n\tprint the version, the commit it was built from and the Go version")
}

// toolUsage is a subcommand's --help.
func toolUsage(w io.Writer, t keyTool) {
	fmt.Fprintf(w, "Usage: securechatd %s [--setting=value ...]\n\n%s.\n", t.name, t.usage)
	fmt.Fprintln(w, "It takes the daemon's settings (see securechatd --help) to find the store and the room password.")
}

// asksHelp reports whether args ask for help, as the flag package reads them.
func asksHelp(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" })
}

// asksVersion reports whether args ask for --version.
func asksVersion(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return a == "-version" || a == "--version" })
}

// versionLine is what --version prints: the release set at build time with
// -ldflags "-X main.version=…", then what the Go toolchain recorded about
// the build (the module version, which for a build from a git checkout
// names the commit and "+dirty" for uncommitted changes), the Go version
// and the platform.
func versionLine() string {
	build, goVersion := "unknown build", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		build, goVersion = buildOf(bi), bi.GoVersion
	}
	return fmt.Sprintf("securechatd %s (%s) %s %s/%s", version, build, goVersion, runtime.GOOS, runtime.GOARCH)
}

// buildOf names the build: the main module's version when Go stamped one,
// else the VCS revision, else "devel" (go run, go test).
func buildOf(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	switch {
	case rev == "":
		return "devel"
	case modified == "true":
		return "commit " + rev + ", modified"
	}
	return "commit " + rev
}
