package load

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckTarget(t *testing.T) {
	tests := []struct {
		name  string
		addr  string
		own   bool
		allow bool
	}{
		{"ipv4 loopback", "127.0.0.1:6697", false, true},
		{"other 127/8 address", "127.0.0.2:6697", false, true},
		{"ipv6 loopback", "[::1]:6697", false, true},
		{"localhost", "localhost:6697", false, true},
		{"private address refused", "10.0.0.1:6697", false, false},
		{"host name refused", "example.com:6697", false, false},
		{"mapped ipv4 loopback", "[::ffff:127.0.0.1]:6697", false, true},
		{"unspecified refused", "0.0.0.0:6697", false, false},
		{"private address with flag", "10.0.0.1:6697", true, true},
		{"host name with flag", "example.com:6697", true, true},
		{"missing port", "127.0.0.1", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTarget(tc.addr, tc.own)
			if (err == nil) != tc.allow {
				t.Errorf("CheckTarget(%q, %v) = %v, want allowed=%v", tc.addr, tc.own, err, tc.allow)
			}
		})
	}
}

// parseCase is one ParseArgs case: args with SECURECHAT_PASSWORD set to
// env give an error mentioning wantErr, or a Config that check accepts.
type parseCase struct {
	name    string
	args    []string
	env     string
	wantErr string
	check   func(t *testing.T, c Config)
}

func runParseCases(t *testing.T, tests []parseCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return map[string]string{"SECURECHAT_PASSWORD": tc.env}[k] }
			c, err := ParseArgs(tc.args, getenv, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestParseArgs(t *testing.T) {
	runParseCases(t, []parseCase{
		{name: "steady preset", args: []string{"--scenario", "steady"}, env: "pw", check: func(t *testing.T, c Config) {
			if c.Users != 1000 || c.Channels != 10 || c.Senders != 20 || c.Rate != 500 || c.Password != "pw" {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "maxrate preset", args: []string{"--scenario", "maxrate"}, env: "pw", check: func(t *testing.T, c Config) {
			if c.Users != 50 || c.Channels != 1 || c.Senders != 5 || c.Rate != 0 {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "churn preset", args: []string{"--scenario", "churn"}, env: "pw", check: func(t *testing.T, c Config) {
			if c.Users != 500 || c.Channels != 10 || c.Senders != 20 || c.Rate != 200 || c.ChurnRate != 200 ||
				c.Baseline != 10*time.Second || c.Preload != 50 || c.ChurnOffline != 200*time.Millisecond {
				t.Errorf("got %+v", c)
			}
			if n, p := churnerCount(&c), churnPeriod(&c); n != 408 || p != 2040*time.Millisecond {
				t.Errorf("%d churners every %v, want 408 every 2.04s", n, p)
			}
		}},
		{name: "connect-storm preset", args: []string{"--scenario", "connect-storm"}, env: "pw", check: func(t *testing.T, c Config) {
			if c.Users != 10000 || c.Senders != 0 || c.Baseline != 0 || c.Preload != 0 {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "history preset preloads", args: []string{"--scenario", "history"}, env: "pw", check: func(t *testing.T, c Config) {
			if c.Preload != 200 || c.Baseline != 0 {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "explicit flags win", args: []string{"--users", "7", "--rate", "0", "--password", "x"}, check: func(t *testing.T, c Config) {
			if c.Users != 7 || c.Rate != 0 || c.Password != "x" {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "no password", args: nil, wantErr: "no password"},
		{name: "remote target refused", args: []string{"--addr", "10.0.0.1:6697"}, env: "pw", wantErr: "refusing non-loopback"},
		{name: "remote metrics refused", args: []string{"--metrics-url", "http://10.0.0.1:9100/metrics"}, env: "pw", wantErr: "refusing non-loopback"},
		{name: "bad scenario", args: []string{"--scenario", "nope"}, env: "pw", wantErr: "--scenario"},
		{name: "bad run id", args: []string{"--run-id", "#chan"}, env: "pw", wantErr: "--run-id"},
		{name: "run id kept", args: []string{"--run-id", "split1"}, env: "pw", check: func(t *testing.T, c Config) {
			if c.RunID != "split1" {
				t.Errorf("RunID %q", c.RunID)
			}
		}},
		{name: "bad fingerprint", args: []string{"--tls-fingerprint", "abcd"}, env: "pw", wantErr: "fingerprint"},
		{name: "senders above users", args: []string{"--users", "2", "--senders", "3"}, env: "pw", wantErr: "--senders"},
		// 408 churners at 1000/s: every 0.41 s, less than the 1 s a leave,
		// the time away and a reconnect take.
		{name: "churn rate too high", args: []string{"--scenario", "churn", "--churn-rate", "1000"}, env: "pw", wantErr: "lower --churn-rate or --churn-offline"},
		{name: "churn offline too long", args: []string{"--scenario", "churn", "--churn-offline", "2s"}, env: "pw", wantErr: "--churn-offline 2s"},
		{name: "no churners", args: []string{"--scenario", "churn", "--churn-fraction", "0"}, env: "pw", wantErr: "no churner"},
		{name: "zero churn rate", args: []string{"--scenario", "churn", "--churn-rate", "0"}, env: "pw", wantErr: "--churn-rate positive"},
		{name: "ws dials the web listener", args: []string{"--transport", "ws", "--web-addr", "127.0.0.1:8443"}, env: "pw", check: func(t *testing.T, c Config) {
			if c.Transport != "ws" || c.dialAddr(0, "ws") != "127.0.0.1:8443" || c.tlsConfig(c.dialAddr(0, "ws")).ServerName != "127.0.0.1" {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "ws defaults to --addr", args: []string{"--transport", "ws"}, env: "pw", check: func(t *testing.T, c Config) {
			if c.dialAddr(0, "ws") != c.Addrs[0] {
				t.Errorf("dials %q", c.dialAddr(0, "ws"))
			}
		}},
		{name: "mixed alternates each channel's members", args: []string{"--transport", "mixed", "--users", "8", "--channels", "2", "--senders", "4"}, env: "pw", check: func(t *testing.T, c Config) {
			r := newRunner(&c, time.Now())
			var got []string
			for _, u := range r.users {
				got = append(got, u.transport())
			}
			// Users 0,2,4,6 are channel 0's; 1,3,5,7 channel 1's.
			if want := "tcp tcp ws ws tcp tcp ws ws"; strings.Join(got, " ") != want {
				t.Errorf("transports %v, want %s", got, want)
			}
		}},
		{name: "bad transport", args: []string{"--transport", "quic"}, env: "pw", wantErr: "--transport"},
		{name: "web addr without ws", args: []string{"--web-addr", "127.0.0.1:8443"}, env: "pw", wantErr: "--web-addr applies"},
		{name: "remote web addr refused", args: []string{"--transport", "ws", "--web-addr", "10.0.0.1:443"}, env: "pw", wantErr: "refusing non-loopback"},
		{name: "baseline outside churn", args: []string{"--scenario", "steady", "--baseline", "5s"}, env: "pw", wantErr: "--baseline applies to the churn scenario only"},
	})
}

func TestParseMetrics(t *testing.T) {
	in := `# HELP securechat_fanout_deliveries_total Deliveries.
# TYPE securechat_fanout_deliveries_total counter
securechat_fanout_deliveries_total 1500
securechat_sendq_drops_total{reason="slow"} 2
securechat_sendq_drops_total{reason="a b}c"} 3
process_cpu_seconds_total 1.25e+00
go_gc_duration_seconds{quantile="0.5"} 0.001 1700000000000
garbage line
`
	got, err := ParseMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"securechat_fanout_deliveries_total": 1500,
		"securechat_sendq_drops_total":       5,
		"process_cpu_seconds_total":          1.25,
		"go_gc_duration_seconds":             0.001,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d names, want %d: %v", len(got), len(want), got)
	}
}

func TestServerResult(t *testing.T) {
	before := &scrapeResult{values: map[string]float64{
		"securechat_fanout_deliveries_total": 1000, "process_cpu_seconds_total": 1, "securechat_other_total": 5,
	}}
	after := &scrapeResult{values: map[string]float64{
		"securechat_fanout_deliveries_total": 3000, "process_cpu_seconds_total": 1.5, "securechat_other_total": 5,
		"securechat_new_total": 1,
	}}
	after.at = before.at.Add(2e9)
	res := serverResult(before, after)
	if res.CPUPercent != 25 || res.CPUUsPerDelivery != 250 || res.DeliveriesCounted != "server" {
		t.Errorf("cpu %v%%, %v µs/delivery from %s", res.CPUPercent, res.CPUUsPerDelivery, res.DeliveriesCounted)
	}
	if _, ok := res.Deltas["securechat_other_total"]; ok {
		t.Error("unchanged non-key counter reported")
	}
	if res.Deltas["securechat_new_total"] != 1 || res.Deltas["securechat_fanout_deliveries_total"] != 2000 {
		t.Errorf("deltas = %v", res.Deltas)
	}
}

func TestResultJSONShape(t *testing.T) {
	res := &Result{Scenario: "steady", Messages: &Counts{Expected: 10, Received: 9, Lost: 1}, LatencyMS: &Dist{Count: 9, P99: 1.5},
		Server: &ServerResult{Deltas: map[string]float64{"process_cpu_seconds_total": 1}}}
	var b strings.Builder
	if err := WriteJSON(&b, res); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), "\n") != 1 {
		t.Errorf("want exactly one line, got %q", b.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(b.String()), &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"scenario", "run_id", "connect", "messages", "latency_ms", "server", "errors"} {
		if _, ok := m[key]; !ok {
			t.Errorf("missing key %q in %s", key, b.String())
		}
	}
	for _, key := range []string{"churn", "history", "memory"} {
		if _, ok := m[key]; ok {
			t.Errorf("unexpected key %q", key)
		}
	}
	msgs := m["messages"].(map[string]any)
	for _, key := range []string{"expected", "received", "lost", "duplicates", "reordered"} {
		if _, ok := msgs[key]; !ok {
			t.Errorf("messages lacks %q", key)
		}
	}
	lat := m["latency_ms"].(map[string]any)
	for _, key := range []string{"p50", "p90", "p99", "max", "count"} {
		if _, ok := lat[key]; !ok {
			t.Errorf("latency_ms lacks %q", key)
		}
	}
}

// TestResultJSONChurnAndStorm checks the field names a churn and a storm
// result carry: the churn figures loadtest.sh reads, and no join_ms for a
// storm, which does not join.
func TestResultJSONChurnAndStorm(t *testing.T) {
	delta := 0.5
	churn := &Result{Scenario: "churn", Connect: ConnectResult{JoinMS: &Dist{Count: 1}}, Churn: &ChurnResult{
		LiveBaselineMS: &Dist{Count: 3, P99: 1}, LiveChurnMS: Dist{Count: 3, P99: 1.5}, LiveP99DeltaMS: &delta}}
	m := jsonMap(t, churn)
	if _, ok := m["connect"].(map[string]any)["join_ms"]; !ok {
		t.Error("churn result lacks connect.join_ms")
	}
	ch := m["churn"].(map[string]any)
	for _, key := range []string{"churners", "rate", "period_seconds", "rejoins", "measured_rejoins", "reconnects_per_second",
		"replay_lines", "replay_ms", "baseline_seconds", "live_baseline_ms", "live_churn_ms", "live_p99_delta_ms"} {
		if _, ok := ch[key]; !ok {
			t.Errorf("churn lacks %q", key)
		}
	}
	storm := jsonMap(t, &Result{Scenario: "connect-storm", Connect: ConnectResult{OK: 1}})
	if _, ok := storm["connect"].(map[string]any)["join_ms"]; ok {
		t.Error("storm result reports a join_ms it did not measure")
	}
}

func jsonMap(t *testing.T, res *Result) map[string]any {
	t.Helper()
	var b strings.Builder
	if err := WriteJSON(&b, res); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(b.String()), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParsePayloadAndTags(t *testing.T) {
	marker := []byte(" :LT r1 ")
	s, q, n, ok := loadPayload([]byte("@time=x :a!b@c PRIVMSG #c :LT r1 3 17 1700000000123456789"), marker)
	if !ok || s != 3 || q != 17 || n != 1700000000123456789 {
		t.Errorf("loadPayload = %d %d %d %v", s, q, n, ok)
	}
	for _, line := range []string{
		":a PRIVMSG #c :LT r1 3 x 1",                     // not a number
		":a PRIVMSG #c :LT r2 3 17 1",                    // another run
		":a PRIVMSG #c :LT r1 17 1",                      // two numbers
		":a PRIVMSG #c :LT r1 3 17 1 ",                   // trailing text
		":a PRIVMSG #c :LT r1 3 17 12345678901234567890", // 20 digits
		"3 17 1", "", " :LT r1 ",
	} {
		if _, _, _, ok := loadPayload([]byte(line), marker); ok {
			t.Errorf("loadPayload accepted %q", line)
		}
	}
	for line, want := range map[string]bool{
		"@batch=abc;time=x :a PRIVMSG #c :hi":   true,
		"@time=x;batch=abc :a PRIVMSG #c :hi":   true,
		"@time=x;msgid=y :a PRIVMSG #c :batch=": false,
		":a PRIVMSG #c :hi":                     false,
	} {
		if hasBatchTag([]byte(line)) != want {
			t.Errorf("hasBatchTag(%q) != %v", line, want)
		}
	}
}

func TestSASLChunks(t *testing.T) {
	if got := saslChunks("abc"); len(got) != 1 || got[0] != "AUTHENTICATE abc" {
		t.Errorf("short: %v", got)
	}
	got := saslChunks(strings.Repeat("a", 400))
	if len(got) != 2 || got[1] != "AUTHENTICATE +" {
		t.Errorf("exactly 400: %v", got[len(got)-1])
	}
}

// TestRunIDNamesChannels: generators given the same --run-id meet in the
// same channels, and --nick-prefix keeps their nicks apart.
func TestRunIDNamesChannels(t *testing.T) {
	a := Config{Users: 2, Channels: 2, RunID: "split1", NickPrefix: "live", Addrs: []string{"127.0.0.1:1"}}
	b := a
	b.NickPrefix = "churn"
	ra, rb := newRunner(&a, time.Now()), newRunner(&b, time.Now())
	if ra.channels[1] != "#load-split1-1" || !slices.Equal(ra.channels, rb.channels) {
		t.Errorf("channels %v and %v", ra.channels, rb.channels)
	}
	if ra.users[0].nick == rb.users[0].nick {
		t.Errorf("both generators use nick %q", ra.users[0].nick)
	}
}
