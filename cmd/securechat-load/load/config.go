// Package load is the logic of securechat-load, the project's load
// generator: simulated IRC users over TLS that register with SASL PLAIN or
// PASS, join channels, send sequence-numbered messages and account for
// every delivery (loss, duplicates, reordering, end-to-end latency).
package load

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// Scenario names accepted by --scenario.
const (
	ScenarioConnectStorm = "connect-storm"
	ScenarioSteady       = "steady"
	ScenarioMaxRate      = "maxrate"
	ScenarioChurn        = "churn"
	ScenarioHistory      = "history"
)

// Config is one load run's settings, built by ParseArgs.
type Config struct {
	// Addrs are the servers' addresses: one, or the nodes of a cluster,
	// over which the users are spread (see nodeOf).
	Addrs []string
	TLS   bool
	// Transport is "tcp" (IRC over TCP, TLS unless --tls=false), "ws"
	// (IRC over WebSocket at wss://WEB-ADDR/ws, one line per message) or
	// "mixed": every channel's members alternate between the two, so
	// both kinds of user see the same traffic in the same run.
	Transport string
	// WebAddrs are the daemons' --web-listen addresses, one per entry of
	// Addrs; nil: Addrs.
	WebAddrs   []string
	SkipVerify bool
	// ClassicalKEX offers only X25519 and P-256, as clients built on
	// older TLS libraries (OpenSSL 3.0, GnuTLS 3.7) do, instead of Go's
	// default post-quantum hybrid first.
	ClassicalKEX bool
	// TLSResume gives each user a session cache, so a churning user's
	// reconnect resumes its TLS session as phone clients do. A user's
	// first connection is always a full handshake.
	TLSResume   bool
	Fingerprint []byte // SHA-256 of the server's leaf certificate; nil: no pin
	Password    string
	Auth        string // "sasl" or "pass"
	Scenario    string
	Users       int
	Channels    int
	Senders     int
	Rate        float64 // total messages per second; 0: as fast as delivery allows
	Window      int     // maxrate: messages in flight per sender
	Duration    time.Duration
	Warmup      time.Duration
	Baseline    time.Duration // churn: live latency measured before churn starts
	Drain       time.Duration
	ConnectTO   time.Duration
	NickPrefix  string
	// RunID names the run's channels (#load-RUNID-K) and nicks; random
	// unless given. Two generators with the same --run-id share channels,
	// so churners can run in a process apart from the users they disturb.
	RunID         string
	MetricsURL    string
	MetricsToken  string
	JSONOnly      bool
	OwnServer     bool
	ServerPID     int
	ChurnFraction float64
	ChurnRate     float64 // churn: total reconnects per second over all churners
	ChurnOffline  time.Duration
	HistoryRate   float64 // total CHATHISTORY requests per second; 0: closed loop
	HistoryLimit  int
	Preload       int // messages per channel sent before the warmup
	// Reconnect brings a user whose connection ends back through the
	// next address of Addrs, and fills its gap from CHATHISTORY (see
	// reconnect.go).
	Reconnect bool
	// ReconnectJitter, when positive, spreads the first reconnection of
	// each dropped user over [0, ReconnectJitter), as the reconnect
	// delays of real clients spread a crowd that lost its node.
	ReconnectJitter time.Duration
	// FillOverlap, when positive, starts the gap fill that long before
	// the server time of the last message seen instead of right after its
	// msgid, merging the overlap by message.
	FillOverlap time.Duration
}

// usageHeader is printed above the flag list by -h.
const usageHeader = `securechat-load: load generator for securechatd.

Simulated users connect over TLS (or, with --transport ws, over a WebSocket
to the server's web listener, one IRC line per message; --transport mixed
alternates the two within each channel and reports them apart), register
with SASL PLAIN or PASS, join --channels channels and exchange
sequence-numbered messages; receivers count loss, duplicates and
reordering and measure end-to-end latency. Given several --addr (the
nodes of a cluster), user i goes to address
(i/channels + i mod channels) mod n, so every channel has members on every
node; deliveries between users on the same address and on different ones
are reported apart.

Scenarios:
  connect-storm  --users register at once (no JOIN); registrations/s and
                 registration latency
  steady         senders at --rate msg/s total, everyone receives (fan-out)
  maxrate        senders as fast as delivery allows (--window in flight)
  churn          a --churn-fraction of users reconnect, --churn-rate times a
                 second in all, on an even schedule; replay size and time to
                 replay complete on each rejoin, and live fan-out latency in
                 a --baseline window without churn and in the churn window
  history        steady traffic plus CHATHISTORY LATEST/BEFORE requests

With --reconnect (steady, maxrate) a user whose connection ends reconnects
to the next address of --addr (100 ms back-off doubling to 2 s), registers
again (an alternate nick on 433), rejoins and fills the gap with
CHATHISTORY AFTER; a message seen live and in history counts once. Its
sender pauses while it is away. The report adds drops, time back, messages
recovered and lost, live latency inside and outside the outages, and an
audit of every lost message against the channel's history.

Run the server with --flood-exempt 127.0.0.0/8,::1/128 (loopback exempt from
flood control and per-address connection limits), or the server will
throttle the simulated users and the numbers measure the throttle.
Only loopback targets are allowed unless --i-own-this-server is given.

Flags:
`

// ParseArgs builds a Config from command-line arguments; getenv supplies
// SECURECHAT_PASSWORD. Usage and errors go to out.
func ParseArgs(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	var c Config
	var pwFile, fp, tokFile, addrs, webAddrs string
	fs := flag.NewFlagSet("securechat-load", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { fmt.Fprint(out, usageHeader); fs.PrintDefaults() }
	fs.StringVar(&addrs, "addr", "127.0.0.1:6697", "server `host:port`, or a comma-separated list of a cluster's nodes to spread the users over (see above)")
	fs.BoolVar(&c.TLS, "tls", true, "connect with TLS (with --transport ws: wss:// rather than ws://)")
	fs.StringVar(&c.Transport, "transport", "tcp", "tcp (IRC over TCP), ws (IRC over WebSocket at wss://--web-addr/ws, subprotocol text.ircv3.net) or mixed (each channel's members alternate tcp and ws; results also per transport)")
	fs.StringVar(&webAddrs, "web-addr", "", "ws, mixed: the server's web listener `host:port` (securechatd --web-listen), or a list with one per --addr entry; default --addr")
	fs.BoolVar(&c.SkipVerify, "insecure-skip-verify", true, "accept any certificate (the server's self-signed one); see --tls-fingerprint")
	fs.BoolVar(&c.TLSResume, "tls-resume", true, "reconnecting users resume their TLS session, as phone clients do (first connections are full handshakes)")
	fs.BoolVar(&c.ClassicalKEX, "tls-classical-kex", false, "offer only X25519 and P-256 key exchange, like clients on OpenSSL 3.0 / GnuTLS 3.7 (default: Go's post-quantum hybrid first)")
	fs.StringVar(&fp, "tls-fingerprint", "", "pin the server certificate by its SHA-256 `hex` fingerprint")
	fs.StringVar(&c.Password, "password", "", "room password (visible in ps; prefer --password-file or SECURECHAT_PASSWORD)")
	fs.StringVar(&pwFile, "password-file", "", "read the room password from `file`")
	fs.StringVar(&c.Auth, "auth", "sasl", "authentication: sasl (SASL PLAIN) or pass (PASS)")
	fs.StringVar(&c.Scenario, "scenario", ScenarioSteady, "connect-storm, steady, maxrate, churn or history")
	fs.IntVar(&c.Users, "users", 0, "simulated users (default depends on the scenario)")
	fs.IntVar(&c.Channels, "channels", 0, "channels the users are spread over (default depends on the scenario)")
	fs.IntVar(&c.Senders, "senders", -1, "users that also send (default depends on the scenario)")
	fs.Float64Var(&c.Rate, "rate", -1, "total messages per second over all senders; 0: as fast as possible (default depends on the scenario)")
	fs.IntVar(&c.Window, "window", 32, "maxrate: messages a sender may have undelivered at once")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured sending time")
	fs.DurationVar(&c.Warmup, "warmup", time.Second, "sending time before measuring starts (loss is counted throughout)")
	fs.DurationVar(&c.Baseline, "baseline", -1, "churn: window after the warmup in which live latency is measured with the churners connected and idle (default 10s for churn)")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "how long to wait for outstanding deliveries after sending stops")
	fs.DurationVar(&c.ConnectTO, "connect-timeout", 30*time.Second, "time allowed for all users to connect, register and join")
	fs.StringVar(&c.NickPrefix, "nick-prefix", "lt", "nick prefix; nicks are PREFIX-RUNID-N")
	fs.StringVar(&c.RunID, "run-id", "", "run id (letters and digits, up to 12) naming channels #load-RUNID-K; random by default. Generators given the same id share channels; give them different --nick-prefix")
	fs.StringVar(&c.MetricsURL, "metrics-url", "", "server /metrics `URL` to scrape before and after (e.g. http://127.0.0.1:9100/metrics)")
	fs.StringVar(&tokFile, "metrics-token-file", "", "bearer token `file` for --metrics-url")
	fs.BoolVar(&c.JSONOnly, "json-only", false, "print only the JSON result line")
	fs.BoolVar(&c.OwnServer, "i-own-this-server", false, "allow a non-loopback target")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "server `pid` (same host): report idle memory per connection from /proc/PID/status VmRSS")
	fs.Float64Var(&c.ChurnFraction, "churn-fraction", 0.85, "churn: share of non-sending users that come and go")
	fs.Float64Var(&c.ChurnRate, "churn-rate", 200, "churn: reconnects per second over all churning users, spread evenly")
	fs.DurationVar(&c.ChurnOffline, "churn-offline", 200*time.Millisecond, "churn: time a churning user stays away before reconnecting")
	fs.Float64Var(&c.HistoryRate, "history-rate", 100, "history: total CHATHISTORY requests per second; 0: back to back")
	fs.IntVar(&c.HistoryLimit, "history-limit", 50, "history: messages asked for per CHATHISTORY request")
	fs.BoolVar(&c.Reconnect, "reconnect", false, "steady, maxrate: a user whose connection ends (node killed or drained) reconnects to the next --addr, re-registers, rejoins and fills the gap with CHATHISTORY AFTER; reports drops, time back, messages recovered and lost")
	fs.DurationVar(&c.ReconnectJitter, "reconnect-jitter", 0, "--reconnect: wait a random time below this before a dropped user's first reconnection (0: at once)")
	fs.DurationVar(&c.FillOverlap, "fill-overlap", 0, "--reconnect: 0 fills the gap with CHATHISTORY AFTER msgid=<last seen>; a duration starts it that long before that message's server time (timestamp=), merging by message, which also finds messages from other nodes that were still on their way when the connection died")
	fs.IntVar(&c.Preload, "preload", -1, "messages per channel sent before the warmup (default: history 200; churn 50, the daemon's JOIN replay, so every rejoin replays a full 50; others 0)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	applyScenarioDefaults(&c)
	c.Addrs, c.WebAddrs = splitList(addrs), splitList(webAddrs)
	return c, finishConfig(&c, pwFile, fp, tokFile, getenv)
}

// finishConfig resolves secrets and validates c, reporting every problem.
func finishConfig(c *Config, pwFile, fp, tokFile string, getenv func(string) string) error {
	var errs []error
	if err := resolvePassword(c, pwFile, getenv); err != nil {
		errs = append(errs, err)
	}
	if fp != "" {
		b, err := hex.DecodeString(strings.ReplaceAll(strings.ToLower(fp), ":", ""))
		if err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("--tls-fingerprint: want 64 hex digits (colons allowed)"))
		}
		c.Fingerprint = b
	}
	if tokFile != "" {
		b, err := os.ReadFile(tokFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--metrics-token-file: %w", err))
		}
		c.MetricsToken = strings.TrimSpace(string(b))
	}
	errs = append(errs, validate(c)...)
	return errors.Join(errs...)
}

// resolvePassword takes the password from the flag, the file or the
// environment, in that order.
func resolvePassword(c *Config, pwFile string, getenv func(string) string) error {
	switch {
	case c.Password != "":
	case pwFile != "":
		b, err := os.ReadFile(pwFile)
		if err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
		c.Password = strings.TrimRight(string(b), "\r\n")
	default:
		c.Password = getenv("SECURECHAT_PASSWORD")
	}
	if c.Password == "" {
		return errors.New("no password: use --password-file, SECURECHAT_PASSWORD or --password")
	}
	return nil
}

// applyScenarioDefaults fills the flags left at their zero value with the
// preset's numbers.
func applyScenarioDefaults(c *Config) {
	type preset struct {
		users, channels, senders int
		rate                     float64
		preload                  int
		baseline                 time.Duration
	}
	// The churn preset has 0.85*480 = 408 churners at the default
	// --churn-fraction 0.85, so at 200 reconnects/s each comes back every
	// 2 s; 20 messages/s per channel keep the channels live for fan-out.
	p := map[string]preset{
		ScenarioConnectStorm: {10000, 10, 0, 0, 0, 0},
		ScenarioSteady:       {1000, 10, 20, 500, 0, 0},
		ScenarioMaxRate:      {50, 1, 5, 0, 0, 0},
		ScenarioChurn:        {500, 10, 20, 200, 50, 10 * time.Second},
		ScenarioHistory:      {100, 5, 5, 50, 200, 0},
	}[c.Scenario]
	if c.Users == 0 {
		c.Users = p.users
	}
	if c.Channels == 0 {
		c.Channels = p.channels
	}
	if c.Senders < 0 {
		c.Senders = min(p.senders, c.Users) // a smaller --users keeps working
	}
	if c.Rate < 0 {
		c.Rate = p.rate
	}
	if c.Preload < 0 {
		c.Preload = p.preload
	}
	if c.Baseline < 0 {
		c.Baseline = p.baseline
	}
}

// churnSettle is how long a leaving churner keeps reading after noting the
// senders' positions, so that messages sent before that point have arrived
// and the loss count stays exact. churnSlack is the time allowed for a
// reconnect (dial, TLS, registration, JOIN and replay) within a period.
const (
	churnSettle = 500 * time.Millisecond
	churnSlack  = 300 * time.Millisecond
)

// churnerCount returns how many users churn: the --churn-fraction share of
// the users that do not send.
func churnerCount(c *Config) int {
	if c.Scenario != ScenarioChurn {
		return 0
	}
	return int(float64(c.Users-c.Senders) * c.ChurnFraction)
}

// churnPeriod is the time between two reconnects of one churner: the
// churners together reconnect --churn-rate times a second.
func churnPeriod(c *Config) time.Duration {
	return time.Duration(float64(churnerCount(c)) / c.ChurnRate * float64(time.Second))
}

// validate lists every problem with c.
func validate(c *Config) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.Scenario {
	case ScenarioConnectStorm, ScenarioSteady, ScenarioMaxRate, ScenarioChurn, ScenarioHistory:
	default:
		bad("--scenario %q: want connect-storm, steady, maxrate, churn or history", c.Scenario)
	}
	if len(c.RunID) > 12 || strings.ContainsFunc(c.RunID, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') }) {
		bad("--run-id %q: want up to 12 lower-case letters and digits", c.RunID)
	}
	if c.Transport != "tcp" && c.Transport != "ws" && c.Transport != "mixed" {
		bad("--transport %q: want tcp, ws or mixed", c.Transport)
	}
	errs = append(errs, validateAddrs(c)...)
	if c.Auth != "sasl" && c.Auth != "pass" {
		bad("--auth %q: want sasl or pass", c.Auth)
	}
	if c.Users < 1 || c.Channels < 1 || c.Senders < 0 || c.Senders > c.Users {
		bad("need --users >= 1, --channels >= 1 and 0 <= --senders <= --users")
	}
	if c.Rate < 0 || c.Window < 1 || c.Duration <= 0 || c.Warmup < 0 || c.Drain < 0 {
		bad("--rate, --warmup and --drain must not be negative; --duration and --window must be positive")
	}
	if c.ChurnFraction < 0 || c.ChurnFraction > 1 || c.ChurnRate <= 0 || c.ChurnOffline < 0 || c.Baseline < 0 || c.Preload < 0 {
		bad("--churn-fraction must be in [0,1], --churn-rate positive, --churn-offline, --baseline and --preload not negative")
	} else if c.Scenario == ScenarioChurn {
		errs = append(errs, validateChurn(c)...)
	}
	if c.Baseline > 0 && c.Scenario != ScenarioChurn {
		bad("--baseline applies to the churn scenario only")
	}
	if c.Reconnect && c.Scenario != ScenarioSteady && c.Scenario != ScenarioMaxRate {
		bad("--reconnect applies to the steady and maxrate scenarios only")
	}
	if c.ReconnectJitter < 0 || c.ReconnectJitter > 0 && !c.Reconnect {
		bad("--reconnect-jitter applies with --reconnect and must not be negative")
	}
	if c.FillOverlap < 0 || c.FillOverlap > 0 && !c.Reconnect {
		bad("--fill-overlap applies with --reconnect and must not be negative")
	}
	if c.MetricsURL != "" {
		if err := checkMetricsURL(c.MetricsURL, c.OwnServer); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// validateChurn checks that the churners can keep up with --churn-rate:
// each must leave (settle, disconnect), stay away and reconnect within its
// period, or the reconnects would fall behind and the rate not be the one
// asked for.
func validateChurn(c *Config) []error {
	n := churnerCount(c)
	if n < 1 {
		return []error{fmt.Errorf("churn: --churn-fraction %g of %d non-sending users is no churner; raise --churn-fraction or --users", c.ChurnFraction, c.Users-c.Senders)}
	}
	p, need := churnPeriod(c), churnSettle+c.ChurnOffline+churnSlack
	if p <= need {
		return []error{fmt.Errorf("churn: %d churners at --churn-rate %g/s each reconnect every %v, "+
			"which must exceed %v (%v settle + --churn-offline %v + %v to reconnect): "+
			"lower --churn-rate or --churn-offline, or raise --churn-fraction or --users",
			n, c.ChurnRate, p.Round(time.Millisecond), need, churnSettle, c.ChurnOffline, churnSlack)}
	}
	return nil
}

// CheckTarget refuses an address whose host is not loopback unless the
// operator says the server is theirs: a load generator pointed at someone
// else's server is a denial-of-service tool. Host names other than
// "localhost" are refused without resolving them.
func CheckTarget(addr string, ownServer bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if ownServer || isLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("refusing non-loopback target %q: pass --i-own-this-server if you operate it", addr)
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func checkMetricsURL(raw string, ownServer bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--metrics-url %q: want http(s)://host:port/metrics", raw)
	}
	if ownServer || isLoopbackHost(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("refusing non-loopback --metrics-url %q: pass --i-own-this-server if you operate it", raw)
}

// tlsConfig returns the client TLS settings for a server at addr: no
// verification, a pinned fingerprint, or ordinary verification against the
// system roots.
func (c *Config) tlsConfig(addr string) *tls.Config {
	host, _, _ := net.SplitHostPort(addr)
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if c.ClassicalKEX {
		tc.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	}
	if c.Fingerprint == nil {
		tc.InsecureSkipVerify = c.SkipVerify
		return tc
	}
	want := c.Fingerprint
	tc.InsecureSkipVerify = true // replaced by the pin check below
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("server sent no certificate")
		}
		got := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if string(got[:]) != string(want) {
			return fmt.Errorf("certificate fingerprint %x does not match --tls-fingerprint", got)
		}
		return nil
	}
	return tc
}
