package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// validate runs every check and reports all problems at once, one line
// each, every line starting with the setting it is about.
func validate(c *Config) error {
	return errors.Join(
		validateListen(c),
		validateWebOrigins(c),
		validatePlaintext(c),
		validateTLSFiles(c),
		validateACME(c),
		validateSecretFiles(c),
		validatePasswordFileMode(c),
		validateMOTD(c),
		validateNames(c),
		validateDataDir(c),
		validateLogLevel(c),
		validateRedis(c),
		validateCluster(c),
		validateCounts(c),
		validateDurations(c),
		validateOpers(c),
	)
}

// validateListen checks every listen address; the TLS one is mandatory
// because there is deliberately no way to run without encryption.
func validateListen(c *Config) error {
	if c.Listen == "" {
		return errors.New("listen: must be set; the TLS listener cannot be disabled")
	}
	errs := []error{checkAddr("listen", c.Listen)}
	if c.ListenPlain != "" {
		errs = append(errs, checkAddr("listen-plain", c.ListenPlain))
	}
	// Port 0 asks the kernel for a free port, so two such listeners differ.
	if c.ListenPlain == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		errs = append(errs, fmt.Errorf("listen-plain: %q is also the TLS listen address", c.ListenPlain))
	}
	if c.MetricsListen != "" {
		errs = append(errs, checkAddr("metrics-listen", c.MetricsListen))
	}
	if c.WebListen != "" {
		errs = append(errs, checkAddr("web-listen", c.WebListen))
	}
	return errors.Join(errs...)
}

// validateWebOrigins checks that every web-origins entry is a pattern the
// Origin check can match, so a typo fails at start rather than refusing
// every browser.
func validateWebOrigins(c *Config) error {
	var errs []error
	for _, p := range c.WebOrigins {
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("web-origins: %q is not a valid pattern: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// checkAddr reports whether addr is a usable host:port for setting name.
func checkAddr(name, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port: %w", name, addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%s: %q has no valid port number", name, addr)
	}
	return nil
}

// validatePlaintext refuses a plaintext listener reachable from other
// machines unless the operator explicitly accepts that passwords and
// messages cross the network in the clear.
func validatePlaintext(c *Config) error {
	if c.ListenPlain == "" || c.AllowInsecurePlaintext {
		return nil
	}
	host, _, err := net.SplitHostPort(c.ListenPlain)
	if err != nil || isLoopback(host) {
		return nil // a bad address is validateListen's to report
	}
	return fmt.Errorf("listen-plain: %q is not a loopback address; plaintext sends passwords and messages in the clear, set allow-insecure-plaintext to accept that", c.ListenPlain)
}

// isLoopback reports whether host only accepts local connections. An empty
// host means every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// validateTLSFiles checks that a given certificate and key come as a pair
// and load, so a typo fails at start rather than at the first handshake.
func validateTLSFiles(c *Config) error {
	switch {
	case c.TLSCert == "" && c.TLSKey == "":
		return nil
	case c.TLSKey == "":
		return errors.New("tls-key: must be set when tls-cert is")
	case c.TLSCert == "":
		return errors.New("tls-cert: must be set when tls-key is")
	}
	if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
		return fmt.Errorf("tls-cert/tls-key: cannot load %s and %s: %w", c.TLSCert, c.TLSKey, err)
	}
	return nil
}

// validateACME checks the ACME settings. ACME and certificate files are
// refused together rather than one silently winning: an operator who set
// both would otherwise serve a certificate they did not expect.
func validateACME(c *Config) error {
	if c.ACMEDomain == "" {
		var errs []error
		if c.ACMEEmail != "" {
			errs = append(errs, errors.New("acme-email: needs acme-domain"))
		}
		if c.ACMEHTTPListen != "" {
			errs = append(errs, errors.New("acme-http-listen: needs acme-domain"))
		}
		return errors.Join(errs...)
	}
	errs := []error{}
	if !isHostname(c.ACMEDomain) || net.ParseIP(c.ACMEDomain) != nil {
		errs = append(errs, fmt.Errorf("acme-domain: %q must be a DNS name such as chat.example.org", c.ACMEDomain))
	}
	if c.TLSCert != "" || c.TLSKey != "" {
		errs = append(errs, errors.New("acme-domain: cannot be combined with tls-cert/tls-key; use one or the other"))
	}
	if u, err := url.Parse(c.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, fmt.Errorf("acme-directory: %q is not an https:// URL", c.ACMEDirectory))
	}
	if c.ACMEEmail != "" && !strings.Contains(strings.Trim(c.ACMEEmail, "@"), "@") {
		errs = append(errs, fmt.Errorf("acme-email: %q is not an e-mail address", c.ACMEEmail))
	}
	if c.ACMEHTTPListen != "" {
		errs = append(errs, checkAddr("acme-http-listen", c.ACMEHTTPListen))
	}
	return errors.Join(errs...)
}

// validateSecretFiles checks each configured secret file is readable and
// non-empty. The contents are discarded; callers read them when needed.
func validateSecretFiles(c *Config) error {
	var errs []error
	for _, f := range []struct{ name, path string }{
		{"password-file", c.PasswordFile},
		{"redis-password-file", c.RedisPasswordFile},
		{"metrics-token-file", c.MetricsTokenFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := ReadSecretFile(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	return errors.Join(errs...)
}

// validateMOTD checks the MOTD file can be read.
func validateMOTD(c *Config) error {
	if c.MOTDFile == "" {
		return nil
	}
	if _, err := os.ReadFile(c.MOTDFile); err != nil {
		return fmt.Errorf("motd-file: %w", err)
	}
	return nil
}

// validateNames checks the names clients see in every reply.
func validateNames(c *Config) error {
	var errs []error
	if !isHostname(c.ServerName) {
		errs = append(errs, fmt.Errorf("server-name: %q must be a host name with a dot, such as irc.example.org", c.ServerName))
	}
	if !validWebpushSubject(c.WebpushSubject) {
		errs = append(errs, fmt.Errorf("webpush-subject: %q must start with mailto: or https:// (RFC 8292)", c.WebpushSubject))
	}
	if c.Network == "" || strings.ContainsAny(c.Network, " \t\r\n\x00,:") {
		errs = append(errs, fmt.Errorf("network: %q must be one word without spaces, commas or colons", c.Network))
	}
	return errors.Join(errs...)
}

// validWebpushSubject accepts "" (derived from server-name) and the two
// forms of RFC 8292 §2.1.
func validWebpushSubject(s string) bool {
	return s == "" || strings.HasPrefix(s, "mailto:") && len(s) > len("mailto:") ||
		strings.HasPrefix(s, "https://") && len(s) > len("https://")
}

// isHostname reports whether s looks like a DNS name. IRC uses the dot to
// tell a server prefix from a nick prefix, so one is required.
func isHostname(s string) bool {
	if len(s) > 63 || !strings.Contains(s, ".") {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

// validateDataDir checks data-dir is set and, if it exists, is a directory;
// it is created on first use.
func validateDataDir(c *Config) error {
	if c.DataDir == "" {
		return errors.New("data-dir: must be set")
	}
	fi, err := os.Stat(c.DataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("data-dir: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("data-dir: %s is not a directory", c.DataDir)
	}
	return nil
}

// validateLogLevel checks log-level is one of the four slog levels.
func validateLogLevel(c *Config) error {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		return fmt.Errorf("log-level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	return nil
}

// validateRedis checks the Redis URL. A password in the URL is refused so
// that it cannot leak through the process list or logs.
func validateRedis(c *Config) error {
	if c.Redis == "" {
		if c.RedisCluster {
			return errors.New("redis-cluster: needs a redis URL")
		}
		return nil
	}
	u, err := url.Parse(c.Redis)
	switch {
	case err != nil:
		return fmt.Errorf("redis: %w", err)
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return fmt.Errorf("redis: scheme %q is not redis:// or rediss://", u.Scheme)
	case u.Host == "":
		return fmt.Errorf("redis: %q has no host", c.Redis)
	case u.User != nil:
		if _, hasPassword := u.User.Password(); hasPassword {
			return errors.New("redis: URL contains a password; put it in redis-password-file instead")
		}
	}
	return nil
}

// Bounds of cluster-lease: below a second, a garbage-collection pause or a
// slow Redis reply would cost a node its lease; above a minute, users of a
// dead node linger as ghosts for longer than anyone waits.
const (
	minClusterLease = time.Second
	maxClusterLease = time.Minute
)

// validateCluster checks the cluster settings. The node id appears in
// Redis keys and in LINKS, so it is kept to a plain, bounded alphabet.
func validateCluster(c *Config) error {
	var errs []error
	if c.Cluster && c.Redis == "" {
		errs = append(errs, errors.New("cluster: needs redis; the nodes of a cluster share one Redis"))
	}
	if c.NodeID != "" && !validNodeID(c.NodeID) {
		errs = append(errs, fmt.Errorf("node-id: %q must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'", c.NodeID))
	}
	if c.ClusterLease < minClusterLease || c.ClusterLease > maxClusterLease {
		errs = append(errs, fmt.Errorf("cluster-lease: must be between %s and %s, got %s",
			formatDuration(minClusterLease), formatDuration(maxClusterLease), formatDuration(c.ClusterLease)))
	}
	return errors.Join(errs...)
}

// validNodeID reports whether id is 1 to 64 characters of [A-Za-z0-9._-].
func validNodeID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// minimum is one lower bound check on a numeric setting.
type minimum struct {
	name     string
	value    float64
	min      float64
	strictly bool // value must exceed min, not just reach it
}

// validateCounts checks the numeric limits.
func validateCounts(c *Config) error {
	checks := []minimum{
		{"replay", float64(c.Replay), 0, false},
		{"history-max-len", float64(c.HistoryMaxLen), 1, false},
		{"write-queue-size", float64(c.WriteQueueSize), 1, false},
		{"sendq", float64(c.SendQ), 512, false}, // one whole IRC line
		{"flood-rate", c.FloodRate, 0, true},
		{"flood-burst", float64(c.FloodBurst), 1, false},
		{"max-conns-per-ip", float64(c.MaxConnsPerIP), 0, false},
		{"conn-rate-per-ip", c.ConnRatePerIP, 0, false},
		{"auth-fail-limit", float64(c.AuthFailLimit), 0, false},
	}
	errs := checkMinimums(checks)
	if c.Replay > c.HistoryMaxLen && c.HistoryMaxLen >= 1 {
		errs = append(errs, fmt.Errorf("replay: %d exceeds history-max-len %d", c.Replay, c.HistoryMaxLen))
	}
	return errors.Join(errs...)
}

// validateDurations checks every duration is positive; a zero timeout
// would disconnect everyone or never fire, depending on the reader.
func validateDurations(c *Config) error {
	var errs []error
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"history-max-age", c.HistoryMaxAge},
		{"key-epoch", c.KeyEpoch},
		{"ping-interval", c.PingInterval},
		{"ping-timeout", c.PingTimeout},
		{"registration-timeout", c.RegistrationTimeout},
		{"nick-grace", c.NickGrace},
		{"auth-fail-window", c.AuthFailWindow},
	} {
		if d.value <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be a positive duration, got %s", d.name, d.value))
		}
	}
	return errors.Join(errs...)
}

// checkMinimums returns one error per failed check.
func checkMinimums(checks []minimum) []error {
	var errs []error
	for _, m := range checks {
		bound := strconv.FormatFloat(m.min, 'g', -1, 64)
		got := strconv.FormatFloat(m.value, 'g', -1, 64)
		switch {
		case m.strictly && m.value <= m.min:
			errs = append(errs, fmt.Errorf("%s: must be greater than %s, got %s", m.name, bound, got))
		case !m.strictly && m.value < m.min:
			errs = append(errs, fmt.Errorf("%s: must be at least %s, got %s", m.name, bound, got))
		}
	}
	return errs
}

// validateOpers checks that no operator name is used twice; the hash
// format is checked with the line number as the file is read.
func validateOpers(c *Config) error {
	var errs []error
	seen := map[string]bool{}
	for _, o := range c.Opers {
		if seen[strings.ToLower(o.Name)] {
			errs = append(errs, fmt.Errorf("oper: %s is defined twice", o.Name))
		}
		seen[strings.ToLower(o.Name)] = true
	}
	return errors.Join(errs...)
}
