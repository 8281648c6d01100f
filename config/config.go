// Package config turns flags, SECURECHAT_* environment variables and a
// config file into one validated Config. Flags win over the environment,
// the environment over the file, the file over Defaults.
//
// Every setting is one row of the table in settings.go; that row drives the
// flag, the environment variable, the config-file key, Usage and
// ReferenceMarkdown. The room password is deliberately not a setting: it
// comes only from --password-file, SECURECHAT_PASSWORD or a generated file
// (see Password), so it never shows up in a process list or a config file.
package config

import (
	"log/slog"
	"net/netip"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"securechat/crypto"
)

// Oper is a server operator account. PasswordHash is an encoded Argon2id
// hash (see crypto.HashPassword); plain passwords are never accepted.
type Oper struct {
	Name         string
	PasswordHash string
}

// CheckPassword reports whether pw matches the operator's password hash.
func (o Oper) CheckPassword(pw []byte) bool { return crypto.VerifyPassword(o.PasswordHash, pw) }

// Config is the daemon's whole configuration. It is immutable once built:
// a reload builds a new one and swaps the pointer.
//
// For the limits below, 0 means "no limit" only where the comment says so;
// Load rejects negative values everywhere and zero where it would be unsafe.
type Config struct {
	ConfigFile string // where the file part came from, for REHASH

	Listen                 string // TLS listener; always set, TLS cannot be turned off
	ListenPlain            string // optional plaintext listener; empty: none
	AllowInsecurePlaintext bool   // permit ListenPlain on a non-loopback address
	TLSCert, TLSKey        string // empty: self-signed pair in DataDir
	ACMEDomain             string // obtain the certificate by ACME for this name; empty: no ACME
	ACMEDirectory          string // the ACME CA's directory URL
	ACMEEmail              string // contact address given to the CA; may be empty
	ACMEHTTPListen         string // HTTP-01 listener, host:port; empty: TLS-ALPN-01 only
	PasswordFile           string // empty: SECURECHAT_PASSWORD or a generated one
	DataDir                string // generated password and certificate live here
	ServerName             string // IRC server name, also a SAN of the self-signed cert
	Network                string // ISUPPORT NETWORK=
	MOTDFile               string // empty: no MOTD
	LogLevel               string // debug, info, warn, error

	// AllowInsecurePasswordFile starts with a world-readable PasswordFile
	// (with a warning) instead of refusing it.
	AllowInsecurePasswordFile bool

	Redis             string   // redis:// or rediss:// URL; empty: embedded store
	RedisPasswordFile string   // AUTH password, kept out of the URL
	RedisCluster      bool     // Redis names a Redis Cluster (seeds as addr= parameters)
	MetricsListen     string   // empty: no metrics listener
	WebListen         string   // HTTPS listener for IRC over WebSocket; empty: none
	WebOrigins        []string // Origin host patterns allowed besides the request's own host
	MetricsTokenFile  string   // bearer token for /metrics; empty: no auth

	// Cluster makes the node one of several that share Redis and act as
	// one server (issue 14); like Accounts it is read at start only.
	Cluster      bool
	NodeID       string        // the node's id in the cluster; empty: generated at start
	ClusterLease time.Duration // membership lease; 1s to 60s
	Drain        bool          // on SIGTERM/SIGINT, Drain instead of Shutdown

	Replay         int           // messages replayed on JOIN; 0 disables
	StoreDirect    bool          // keep private messages in history too
	Accounts       bool          // personal accounts (REGISTER, SASL account login); read at start
	NickGrace      time.Duration // time to log in before a registered nick is taken back; > 0
	WebpushSubject string        // VAPID subject, mailto: or https:; empty: https://ServerName
	HistoryMaxLen  int           // records kept per target; at least 1
	HistoryMaxAge  time.Duration // records older than this are trimmed; > 0
	KeyEpoch       time.Duration // lifetime of one data key; > 0
	WriteQueueSize int           // records waiting for the store; at least 1

	SendQ               int            // bytes queued per client before disconnect; >= 512
	PingInterval        time.Duration  // idle time before the server pings; > 0
	PingTimeout         time.Duration  // further idle time before disconnect; > 0
	RegistrationTimeout time.Duration  // time to finish PASS/NICK/USER; > 0
	FloodRate           float64        // lines per second, sustained; > 0
	FloodBurst          int            // lines allowed at once; at least 1
	MaxConnsPerIP       int            // 0: no limit
	ConnRatePerIP       float64        // new connections per second per address; 0: no limit
	AuthFailLimit       int            // failed logins per address before refusal; 0: no limit
	AuthFailWindow      time.Duration  // window AuthFailLimit counts over
	FloodExempt         []netip.Prefix // addresses exempt from flood and connection limits

	Opers []Oper // from repeated "oper = NAME HASH" lines in the file only
}

// Defaults returns the built-in configuration: TLS on :6697, no plaintext
// listener, a self-signed certificate and generated password in ./data.
//
// ServerName is a fixed "securechat.local" rather than os.Hostname so that
// Defaults, and with it the README reference table, is the same on every
// machine. Flood limits sit above what irssi and WeeChat send on their own
// (about one line per two seconds after a short burst), so ordinary clients
// and short pastes never trip them, while a runaway script is throttled.
func Defaults() Config {
	return Config{
		Listen:              ":6697",
		ACMEDirectory:       autocert.DefaultACMEDirectory,
		DataDir:             "data",
		ServerName:          "securechat.local",
		Network:             "securechat",
		LogLevel:            "info",
		MetricsListen:       "127.0.0.1:9477",
		ClusterLease:        10 * time.Second,
		Replay:              50,
		StoreDirect:         true,
		NickGrace:           30 * time.Second,
		HistoryMaxLen:       10000,
		HistoryMaxAge:       30 * 24 * time.Hour,
		KeyEpoch:            24 * time.Hour,
		WriteQueueSize:      100000,
		SendQ:               1 << 20,
		PingInterval:        90 * time.Second,
		PingTimeout:         60 * time.Second,
		RegistrationTimeout: 30 * time.Second,
		FloodRate:           2,
		FloodBurst:          20,
		MaxConnsPerIP:       16,
		ConnRatePerIP:       4,
		AuthFailLimit:       5,
		AuthFailWindow:      time.Minute,
	}
}

// SlogLevel returns LogLevel as a slog.Level. Load has already rejected
// anything else, so an unknown value falls back to info.
func (c *Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
