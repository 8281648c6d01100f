package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// setting is one row of the settings table: its name is the flag, the
// config-file key and (upper-cased) the SECURECHAT_ environment variable.
type setting struct {
	name   string
	usage  string
	isBool bool // a bare --name means true
	set    func(c *Config, v string) error
	get    func(c *Config) string
}

// envName returns the environment variable that sets s.
func (s setting) envName() string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

// inFile reports whether s may appear in the config file; the file
// cannot name another file.
func (s setting) inFile() bool { return s.name != "config" }

// envPrefix starts every environment variable Load reads.
const envPrefix = "SECURECHAT_"

// settings returns the table. It is a function rather than a package
// variable so that nothing in the package is mutable shared state. Adding a
// setting means adding one row here (and a validateX check if it needs one).
func settings() []setting {
	return []setting{
		str("config", "config file of `name = value` lines; flags and environment override it", func(c *Config) *string { return &c.ConfigFile }),
		str("listen", "TLS listen address, host:port (TLS is always on)", func(c *Config) *string { return &c.Listen }),
		str("listen-plain", "extra plaintext listen address, host:port; empty for none", func(c *Config) *string { return &c.ListenPlain }),
		boolean("allow-insecure-plaintext", "allow listen-plain on a non-loopback address", func(c *Config) *bool { return &c.AllowInsecurePlaintext }),
		str("tls-cert", "PEM certificate chain; empty for a self-signed one kept in data-dir", func(c *Config) *string { return &c.TLSCert }),
		str("tls-key", "PEM private key for tls-cert", func(c *Config) *string { return &c.TLSKey }),
		str("acme-domain", "obtain and renew the certificate for this DNS name by ACME (cached in data-dir/acme); excludes tls-cert", func(c *Config) *string { return &c.ACMEDomain }),
		str("acme-directory", "ACME CA directory URL", func(c *Config) *string { return &c.ACMEDirectory }),
		str("acme-email", "contact e-mail address given to the ACME CA; empty for none", func(c *Config) *string { return &c.ACMEEmail }),
		str("acme-http-listen", "HTTP-01 challenge listen address, host:port (port 80 from outside); empty for TLS-ALPN-01 only", func(c *Config) *string { return &c.ACMEHTTPListen }),
		str("password-file", "file holding the room password; else SECURECHAT_PASSWORD, else one generated in data-dir", func(c *Config) *string { return &c.PasswordFile }),
		boolean("allow-insecure-password-file", "start even if password-file is readable by everyone (with a warning); refused otherwise", func(c *Config) *bool { return &c.AllowInsecurePasswordFile }),
		str("data-dir", "directory for the generated password and certificate (relative to the working directory)", func(c *Config) *string { return &c.DataDir }),
		str("server-name", "IRC server name, also a name in the self-signed certificate", func(c *Config) *string { return &c.ServerName }),
		str("network", "IRC network name shown to clients", func(c *Config) *string { return &c.Network }),
		str("motd-file", "message-of-the-day file; empty for none", func(c *Config) *string { return &c.MOTDFile }),
		str("log-level", "debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }),
		str("redis", "redis:// or rediss:// URL without password; empty for the embedded store", func(c *Config) *string { return &c.Redis }),
		boolean("redis-cluster", "the --redis URL names a Redis Cluster; give more seed nodes as addr= query parameters", func(c *Config) *bool { return &c.RedisCluster }),
		str("redis-password-file", "file holding the Redis AUTH password", func(c *Config) *string { return &c.RedisPasswordFile }),
		boolean("cluster", "join the cluster of nodes that share the redis URL, acting as one IRC server with them; needs redis; takes effect at restart", func(c *Config) *bool { return &c.Cluster }),
		str("node-id", "this node's name in the cluster, 1-64 of A-Z a-z 0-9 . _ -; empty for a new random one at each start. Restarted with its id right after a crash, a node waits up to cluster-lease + cluster-lease/3 for its old lease to run out, then exits with an error if a live node holds the id", func(c *Config) *string { return &c.NodeID }),
		duration("cluster-lease", "how long a node stays a member without renewing, 1s to 60s: a dead node's users are dropped within cluster-lease + cluster-lease/3", func(c *Config) *time.Duration { return &c.ClusterLease }),
		boolean("drain", "on SIGTERM or SIGINT, ask clients to reconnect (to another node behind the same address) instead of a plain shutdown; for rolling restarts of a cluster", func(c *Config) *bool { return &c.Drain }),
		str("web-listen", "HTTPS listen address for IRC over WebSocket (wss://host:port/ws), with the TLS certificate; empty for none", func(c *Config) *string { return &c.WebListen }),
		list("web-origins", "comma-separated Origin hosts (host or scheme://host, * wildcards) allowed besides the server's own", func(c *Config) *[]string { return &c.WebOrigins }),
		str("metrics-listen", "Prometheus /metrics address, host:port; empty for none", func(c *Config) *string { return &c.MetricsListen }),
		str("metrics-token-file", "file holding a bearer token required on /metrics; empty for no auth", func(c *Config) *string { return &c.MetricsTokenFile }),
		integer("replay", "history lines replayed on JOIN (with accounts, only those after the account's read marker; none to draft/chathistory clients); 0 disables", func(c *Config) *int { return &c.Replay }),
		boolean("store-direct", "keep private messages in history too", func(c *Config) *bool { return &c.StoreDirect }),
		boolean("accounts", "let people register personal accounts (REGISTER; SASL PLAIN with account and personal password, room password in PASS); takes effect at restart", func(c *Config) *bool { return &c.Accounts }),
		duration("nick-grace", "with accounts, how long a client holding a registered nick has to log in to its account before it is renamed to a guest nick", func(c *Config) *time.Duration { return &c.NickGrace }),
		str("webpush-subject", "how push services reach the operator (VAPID subject): mailto:… or https://…; empty for https://server-name; takes effect at restart", func(c *Config) *string { return &c.WebpushSubject }),
		integer("history-max-len", "history records kept per channel or conversation", func(c *Config) *int { return &c.HistoryMaxLen }),
		duration("history-max-age", "history older than this is deleted (e.g. 30d, 12h)", func(c *Config) *time.Duration { return &c.HistoryMaxAge }),
		duration("key-epoch", "how long one history encryption key is used", func(c *Config) *time.Duration { return &c.KeyEpoch }),
		integer("write-queue-size", "history records buffered for the store", func(c *Config) *int { return &c.WriteQueueSize }),
		byteSize("sendq", "bytes queued for one client before it is disconnected (e.g. 1MiB, 512KiB)", func(c *Config) *int { return &c.SendQ }),
		duration("ping-interval", "idle time before the server sends PING", func(c *Config) *time.Duration { return &c.PingInterval }),
		duration("ping-timeout", "further idle time after PING before disconnecting", func(c *Config) *time.Duration { return &c.PingTimeout }),
		duration("registration-timeout", "time a new connection has to log in", func(c *Config) *time.Duration { return &c.RegistrationTimeout }),
		float("flood-rate", "lines per second a client may send, sustained", func(c *Config) *float64 { return &c.FloodRate }),
		integer("flood-burst", "lines a client may send at once", func(c *Config) *int { return &c.FloodBurst }),
		integer("max-conns-per-ip", "open connections per address; 0 for no limit", func(c *Config) *int { return &c.MaxConnsPerIP }),
		float("conn-rate-per-ip", "new connections per second per address; 0 for no limit", func(c *Config) *float64 { return &c.ConnRatePerIP }),
		integer("auth-fail-limit", "failed logins per address within auth-fail-window before refusing it; 0 for no limit", func(c *Config) *int { return &c.AuthFailLimit }),
		duration("auth-fail-window", "window auth-fail-limit counts over", func(c *Config) *time.Duration { return &c.AuthFailWindow }),
		prefixes("flood-exempt", "comma-separated CIDRs or addresses exempt from flood and connection limits", func(c *Config) *[]netip.Prefix { return &c.FloodExempt }),
	}
}

// str builds a row for a string field.
func str(name, usage string, field func(*Config) *string) setting {
	return setting{name: name, usage: usage,
		set: func(c *Config, v string) error { *field(c) = v; return nil },
		get: func(c *Config) string { return *field(c) },
	}
}

// boolean builds a row for a bool field.
func boolean(name, usage string, field func(*Config) *bool) setting {
	return setting{name: name, usage: usage, isBool: true,
		set: func(c *Config, v string) error { b, err := strconv.ParseBool(v); return assign(field(c), b, err) },
		get: func(c *Config) string { return strconv.FormatBool(*field(c)) },
	}
}

// integer builds a row for an int field.
func integer(name, usage string, field func(*Config) *int) setting {
	return setting{name: name, usage: usage,
		set: func(c *Config, v string) error { n, err := strconv.Atoi(v); return assign(field(c), n, err) },
		get: func(c *Config) string { return strconv.Itoa(*field(c)) },
	}
}

// float builds a row for a float64 field.
func float(name, usage string, field func(*Config) *float64) setting {
	return setting{name: name, usage: usage,
		set: func(c *Config, v string) error { f, err := strconv.ParseFloat(v, 64); return assign(field(c), f, err) },
		get: func(c *Config) string { return strconv.FormatFloat(*field(c), 'g', -1, 64) },
	}
}

// duration builds a row for a time.Duration field.
func duration(name, usage string, field func(*Config) *time.Duration) setting {
	return setting{name: name, usage: usage,
		set: func(c *Config, v string) error { d, err := parseDuration(v); return assign(field(c), d, err) },
		get: func(c *Config) string { return formatDuration(*field(c)) },
	}
}

// byteSize builds a row for a byte count stored in an int field.
func byteSize(name, usage string, field func(*Config) *int) setting {
	return setting{name: name, usage: usage,
		set: func(c *Config, v string) error { n, err := parseBytes(v); return assign(field(c), n, err) },
		get: func(c *Config) string { return formatBytes(*field(c)) },
	}
}

// prefixes builds a row for a comma-separated list of CIDRs.
func prefixes(name, usage string, field func(*Config) *[]netip.Prefix) setting {
	return setting{name: name, usage: usage,
		set: func(c *Config, v string) error { p, err := parsePrefixes(v); return assign(field(c), p, err) },
		get: func(c *Config) string { return formatPrefixes(*field(c)) },
	}
}

// list builds a row for a comma-separated list of strings.
func list(name, usage string, field func(*Config) *[]string) setting {
	return setting{name: name, usage: usage,
		set: func(c *Config, v string) error { *field(c) = splitList(v); return nil },
		get: func(c *Config) string { return strings.Join(*field(c), ",") },
	}
}

// splitList reads comma-separated fields, dropping empty ones.
func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// assign stores v in dst only when parsing succeeded, so a bad value
// leaves the lower layer's value and is reported once, not again by
// validation as a zero.
func assign[T any](dst *T, v T, err error) error {
	if err == nil {
		*dst = v
	}
	return err
}

// parseDuration accepts time.ParseDuration syntax plus a whole number of
// days ("30d"), because history retention is naturally said in days.
func parseDuration(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("want a duration such as 90s, 12h or 30d")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 90s, 12h or 30d")
	}
	return d, nil
}

// formatDuration renders d the way a person would write it: "30d", "90s"
// → "1m30s", "24h0m0s" → "1d".
func formatDuration(d time.Duration) string {
	if day := 24 * time.Hour; d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// byteUnits are the suffixes parseBytes understands, largest first.
func byteUnits() []struct {
	suffix string
	size   int
} {
	return []struct {
		suffix string
		size   int
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
}

// parseBytes reads a plain byte count or one with a KiB, MiB or GiB suffix.
func parseBytes(v string) (int, error) {
	mult := 1
	for _, u := range byteUnits() {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = strings.TrimSpace(n), u.size
			break
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n > (1<<31)/mult {
		return 0, fmt.Errorf("want a byte count such as 1048576, 512KiB or 1MiB")
	}
	return n * mult, nil
}

// formatBytes renders n with the largest unit that divides it exactly.
func formatBytes(n int) string {
	for _, u := range byteUnits() {
		if n != 0 && n%u.size == 0 {
			return strconv.Itoa(n/u.size) + u.suffix
		}
	}
	return strconv.Itoa(n)
}

// parsePrefixes reads comma-separated CIDRs; a bare address means that one
// host. Prefixes are masked so 10.1.2.3/8 and 10.0.0.0/8 compare equal.
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, field := range strings.Split(v, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		p, err := parsePrefix(field)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePrefix reads one CIDR or bare address.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or address", s)
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR: %w", s, err)
	}
	return p.Masked(), nil
}

// formatPrefixes is the inverse of parsePrefixes.
func formatPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
