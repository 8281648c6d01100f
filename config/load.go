package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// assignment is one raw value for a setting and where it came from, so a
// parse error can point at the flag, variable or file line.
type assignment struct {
	name, value, origin string
}

// Load builds the configuration from command-line args (without the program
// name), an environment in os.Environ form, and the file named by --config
// or SECURECHAT_CONFIG. Flags win over the environment, the environment over
// the file, the file over Defaults. It returns one error listing every
// problem, one per line, or flag.ErrHelp for -h/--help. Call it again on
// SIGHUP to reload. Relative paths, in the file too, are relative to the
// working directory. Environment variables that are not settings are
// ignored (SECURECHAT_PASSWORD is read by Password, not here).
func Load(args []string, env []string) (*Config, error) {
	table := settings()
	flags, err := parseFlags(table, args)
	if err != nil {
		return nil, err
	}
	envs := parseEnv(table, env)
	cfg := Defaults()
	var errs []error
	var file []assignment
	if path := configPath(flags, envs); path != "" {
		file, cfg.Opers, err = readFile(table, path)
		errs = append(errs, err)
	}
	for _, layer := range [][]assignment{file, envs, flags} {
		errs = append(errs, apply(&cfg, table, layer))
	}
	errs = append(errs, validate(&cfg))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// rawFlag records a flag's text; parsing waits until every layer is known
// so all bad values are reported together.
type rawFlag struct {
	name   string
	isBool bool
	out    *[]assignment
}

func (f rawFlag) String() string   { return "" }
func (f rawFlag) IsBoolFlag() bool { return f.isBool }

func (f rawFlag) Set(v string) error {
	*f.out = append(*f.out, assignment{f.name, v, "flag --" + f.name})
	return nil
}

// parseFlags returns the flags in args in command-line order, so a repeated
// flag's last value wins when applied.
func parseFlags(table []setting, args []string) ([]assignment, error) {
	var out []assignment
	fs := flag.NewFlagSet("securechatd", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the caller decides whether to print Usage
	for _, s := range table {
		fs.Var(rawFlag{s.name, s.isBool, &out}, s.name, s.usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, flag.ErrHelp
		}
		return nil, fmt.Errorf("command line: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("command line: unexpected argument %q (settings are --name=value)", fs.Arg(0))
	}
	return out, nil
}

// parseEnv picks the SECURECHAT_ variables that name settings. A later
// duplicate wins, as with os.Getenv on most systems.
func parseEnv(table []setting, env []string) []assignment {
	vars := envMap(env)
	var out []assignment
	for _, s := range table {
		if v, ok := vars[s.envName()]; ok {
			out = append(out, assignment{s.name, v, "environment " + s.envName()})
		}
	}
	return out
}

// envMap turns KEY=VALUE pairs into a map.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// configPath finds --config, else SECURECHAT_CONFIG, before anything else is
// applied, since the file sits below both in precedence.
func configPath(flags, envs []assignment) string {
	path := ""
	for _, layer := range [][]assignment{envs, flags} {
		for _, a := range layer {
			if a.name == "config" {
				path = a.value
			}
		}
	}
	return path
}

// apply parses each assignment into cfg, in order.
func apply(cfg *Config, table []setting, layer []assignment) error {
	var errs []error
	for _, a := range layer {
		s, _ := lookup(table, a.name)
		if err := s.set(cfg, a.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: invalid value %q (from %s): %w", a.name, a.value, a.origin, err))
		}
	}
	return errors.Join(errs...)
}

// lookup finds the row called name.
func lookup(table []setting, name string) (setting, bool) {
	for _, s := range table {
		if s.name == name {
			return s, true
		}
	}
	return setting{}, false
}

// readFile reads the config file at path: its settings and its opers.
func readFile(table []setting, path string) ([]assignment, []Oper, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	var (
		out   []assignment
		opers []Oper
		errs  []error
		seen  = map[string]string{}
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		where := fmt.Sprintf("%s:%d", path, n)
		key, value, ok := splitLine(sc.Text())
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: want `name = value`, got %q", where, strings.TrimSpace(sc.Text())))
		case key == "":
			// blank or comment
		case key == "oper":
			o, err := parseOper(value)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			opers = append(opers, o)
		default:
			a, err := fileAssignment(table, key, value, where, seen)
			errs = append(errs, err)
			out = append(out, a...)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("config: reading %s: %w", path, err))
	}
	return out, opers, errors.Join(errs...)
}

// splitLine splits "name = value  # comment". A '#' starts a comment at
// the beginning of a line or after whitespace, so values such as paths may
// still contain '#'. key is empty for blank and comment lines.
func splitLine(line string) (key, value string, ok bool) {
	line = stripComment(line)
	if strings.TrimSpace(line) == "" {
		return "", "", true
	}
	k, v, ok := strings.Cut(line, "=")
	key = strings.TrimSpace(k)
	return key, strings.TrimSpace(v), ok && key != ""
}

// stripComment removes a trailing comment from line.
func stripComment(line string) string {
	for i, r := range line {
		if r == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return line[:i]
		}
	}
	return line
}

// fileAssignment checks key against the table and returns its assignment.
func fileAssignment(table []setting, key, value, where string, seen map[string]string) ([]assignment, error) {
	s, ok := lookup(table, key)
	switch {
	case key == "password":
		return nil, fmt.Errorf("%s: password is not allowed in the config file; use password-file or SECURECHAT_PASSWORD", where)
	case !ok:
		return nil, fmt.Errorf("%s: unknown setting %q", where, key)
	case !s.inFile():
		return nil, fmt.Errorf("%s: %q cannot be set from the config file", where, key)
	case seen[key] != "":
		return nil, fmt.Errorf("%s: %s already set at %s", where, key, seen[key])
	}
	seen[key] = where
	return []assignment{{key, value, where}}, nil
}

// parseOper reads the value of an "oper = NAME ARGON2ID-HASH" line. Only
// a hash is accepted so that the file never holds a usable password.
func parseOper(value string) (Oper, error) {
	f := strings.Fields(value)
	if len(f) != 2 {
		return Oper{}, errors.New("oper: want `oper = NAME ARGON2ID-HASH`")
	}
	if !strings.HasPrefix(f[1], "$argon2id$") {
		return Oper{}, fmt.Errorf("oper: %s: want an Argon2id hash ($argon2id$...), not a plain password", f[0])
	}
	return Oper{Name: f[0], PasswordHash: f[1]}, nil
}
