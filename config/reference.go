package config

import (
	"fmt"
	"io"
	"strings"
)

// Usage writes the flag reference to w: every setting with its environment
// variable and default, then the two things that are not flags.
func Usage(w io.Writer) {
	def := Defaults()
	fmt.Fprintln(w, "Usage: securechatd [--setting=value ...]")
	fmt.Fprintln(w, "\nEvery setting is also an environment variable and a config-file key.")
	fmt.Fprintln(w, "Precedence: flag > environment > config file > default.")
	fmt.Fprintln(w)
	for _, s := range settings() {
		fmt.Fprintf(w, "  --%s%s\n", s.name, valueHint(s))
		fmt.Fprintf(w, "\t%s\n", s.usage)
		fmt.Fprintf(w, "\tenv %s, default %s\n", s.envName(), orNone(s.get(&def)))
	}
	fmt.Fprintln(w, "\nThe room password is never a flag or file key: use --password-file or")
	fmt.Fprintln(w, "SECURECHAT_PASSWORD; with neither, one is generated in data-dir.")
	fmt.Fprintln(w, "Operators are config-file lines only: oper = NAME ARGON2ID-HASH")
}

// valueHint shows that a flag takes a value; bool flags stand alone.
func valueHint(s setting) string {
	if s.isBool {
		return ""
	}
	return "=VALUE"
}

// orNone makes an empty default visible.
func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return fmt.Sprintf("%q", v)
}

// ReferenceMarkdown returns the settings as a Markdown table (setting,
// flag, environment variable, default, meaning) for the README, between
// the <!-- config-reference --> markers. TestReadmeReference keeps the
// README copy in step with this.
func ReferenceMarkdown() string {
	def := Defaults()
	var b strings.Builder
	b.WriteString("| Setting | Flag | Environment | Default | Meaning |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, s := range settings() {
		key := "`" + s.name + "`"
		if !s.inFile() {
			key = "—"
		}
		fmt.Fprintf(&b, "| %s | `--%s` | `%s` | %s | %s |\n",
			key, s.name, s.envName(), markdownDefault(s.get(&def)), s.usage)
	}
	b.WriteString("| `oper` | — | — | — | `oper = NAME ARGON2ID-HASH` adds an operator; repeat for more (file only) |\n")
	b.WriteString("| — | — | `SECURECHAT_PASSWORD` | — | room password when no password-file is given (never a flag or file key) |\n")
	return b.String()
}

// markdownDefault renders a default as code, or a dash when empty.
func markdownDefault(v string) string {
	if v == "" {
		return "—"
	}
	return "`" + v + "`"
}
