// Package config turns flags, SECURECHAT_* environment variables and a
// config file into one validated Config. Flags win over the environment,
// the environment over the file, the file over Defaults.
package config

import (
	"net/netip"
	"time"
)

// Oper is a server operator account. PasswordHash is an encoded Argon2id
// hash (see crypto.HashPassword); plain passwords are never accepted.
type Oper struct {
	Name         string
	PasswordHash string
}

// Config is the daemon's whole configuration. It is immutable once built:
// a reload builds a new one and swaps the pointer.
type Config struct {
	ConfigFile string // where the file part came from, for REHASH

	Listen                 string // TLS listener
	ListenPlain            string // optional plaintext listener
	AllowInsecurePlaintext bool   // permit ListenPlain on a non-loopback address
	TLSCert, TLSKey        string // empty: self-signed pair in DataDir
	PasswordFile           string // empty: SECURECHAT_PASSWORD or a generated one
	DataDir                string
	ServerName             string
	Network                string
	MOTDFile               string
	LogLevel               string // debug, info, warn, error

	Redis             string // redis:// or rediss:// URL; empty: embedded store
	RedisPasswordFile string // AUTH password, kept out of the URL
	MetricsListen     string // empty: no metrics listener
	MetricsTokenFile  string // bearer token for /metrics; empty: no auth

	Replay         int           // messages replayed on JOIN; 0 disables
	StoreDirect    bool          // keep private messages in history too
	HistoryMaxLen  int           // records kept per target
	HistoryMaxAge  time.Duration // records older than this are trimmed
	KeyEpoch       time.Duration // lifetime of one data key
	WriteQueueSize int           // records waiting for the store

	SendQ               int           // bytes queued per client before disconnect
	PingInterval        time.Duration // idle time before the server pings
	PingTimeout         time.Duration // further idle time before disconnect
	RegistrationTimeout time.Duration
	FloodRate           float64 // lines per second, sustained
	FloodBurst          int     // lines allowed at once
	MaxConnsPerIP       int
	ConnRatePerIP       float64 // new connections per second per address
	AuthFailLimit       int     // failed logins per address before refusal
	AuthFailWindow      time.Duration
	FloodExempt         []netip.Prefix

	Opers []Oper
}
