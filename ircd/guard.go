package ircd

import (
	"net/netip"
	"sync"
	"time"

	"securechat/config"
)

// refusalText is what a refused connection is told, by metrics reason.
var refusalText = map[string]string{
	"conn_limit":    "Too many connections from your address",
	"conn_rate":     "Connecting too fast, try again shortly",
	"auth_throttle": "Too many failed logins, try again later",
}

// addrGuard enforces the per-address limits: concurrent connections, new
// connections per second and failed logins. mu guards the map; entries
// vanish once an address has no connections and no recent history.
type addrGuard struct {
	cfg   func() *config.Config
	mu    sync.Mutex
	addrs map[netip.Addr]*addrState
}

type addrState struct {
	conns      int
	rateTokens float64
	rateAt     time.Time
	fails      []time.Time // failed logins inside the window
}

func newAddrGuard(cfg func() *config.Config) *addrGuard {
	return &addrGuard{cfg: cfg, addrs: make(map[netip.Addr]*addrState)}
}

// exempt reports whether ip is on the flood-exempt list.
func (g *addrGuard) exempt(ip netip.Addr) bool {
	for _, p := range g.cfg().FloodExempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// admit counts a new connection from ip, or returns the refusal reason.
func (g *addrGuard) admit(ip netip.Addr) string {
	if g.exempt(ip) {
		return ""
	}
	cfg := g.cfg()
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.state(ip, now, cfg)
	switch {
	case len(st.fails) >= cfg.AuthFailLimit && cfg.AuthFailLimit > 0:
		return "auth_throttle"
	case cfg.MaxConnsPerIP > 0 && st.conns >= cfg.MaxConnsPerIP:
		return "conn_limit"
	case cfg.ConnRatePerIP > 0 && st.rateTokens < 1:
		return "conn_rate"
	}
	st.rateTokens--
	st.conns++
	return ""
}

// state returns ip's entry with expired failures dropped and the rate
// bucket refilled. Callers hold g.mu.
func (g *addrGuard) state(ip netip.Addr, now time.Time, cfg *config.Config) *addrState {
	st := g.addrs[ip]
	burst := max(cfg.ConnRatePerIP, 1)
	if st == nil {
		st = &addrState{rateTokens: burst, rateAt: now}
		g.addrs[ip] = st
	}
	st.rateTokens = min(burst, st.rateTokens+now.Sub(st.rateAt).Seconds()*cfg.ConnRatePerIP)
	st.rateAt = now
	cut := 0
	for cut < len(st.fails) && now.Sub(st.fails[cut]) > cfg.AuthFailWindow {
		cut++
	}
	st.fails = st.fails[cut:]
	return st
}

// release undoes admit when the connection ends.
func (g *addrGuard) release(ip netip.Addr) {
	if g.exempt(ip) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if st := g.addrs[ip]; st != nil {
		st.conns--
		if st.conns <= 0 && len(st.fails) == 0 {
			delete(g.addrs, ip)
		}
	}
}

// authFailed records a failed login from ip and returns how long the reply
// should be held back: the delay grows with each failure in the window, so
// guessing the room password is slowed even before the refusal limit.
func (g *addrGuard) authFailed(ip netip.Addr) time.Duration {
	if g.exempt(ip) {
		return 0
	}
	cfg := g.cfg()
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.state(ip, now, cfg)
	st.fails = append(st.fails, now)
	return time.Duration(len(st.fails)) * authFailDelayStep
}

// authFailDelayStep is the extra delay per recent failure before 464/904.
const authFailDelayStep = 500 * time.Millisecond

// floodBucket is a client's token bucket for incoming lines, owned by its
// reader goroutine. Running dry first costs fake lag (the reader sleeps),
// which holds a client to about its rate. A client that keeps sending into
// its fake lag without ever pausing (each line is already waiting when the
// reader comes back) for longer than maxLag is disconnected. Only the
// pause tells a flood apart: the sleeps alone pay back any debt, so the
// bucket never runs far behind, however long the flood lasts.
type floodBucket struct {
	exempt  bool
	rate    float64
	burst   float64
	tokens  float64
	at      time.Time
	gap     time.Duration // a read faster than this found its line waiting
	maxLag  time.Duration
	backlog time.Time // start of the current unbroken backlog; zero if none
}

func (f *floodBucket) init(cfg *config.Config, exempt bool) {
	f.exempt = exempt || cfg.FloodRate <= 0
	f.rate = cfg.FloodRate
	f.burst = float64(max(cfg.FloodBurst, 1))
	f.tokens = f.burst
	f.at = time.Now()
	if f.exempt {
		return
	}
	// A client within its rate leaves the reader idle for about half of
	// each line's interval, far more than a quarter of it.
	f.gap = min(5*time.Millisecond, time.Duration(float64(time.Second)/(4*f.rate)))
	// The time to earn back a full burst: 10 s with the defaults.
	f.maxLag = max(time.Second, time.Duration(f.burst/f.rate*float64(time.Second)))
}

// take spends one token, sleeping off half of any deficit, after calling
// beforePause. waited is how long the reader blocked for this line. It
// returns false for a client that has been backlogged without a pause for
// longer than maxLag.
func (f *floodBucket) take(waited time.Duration, beforePause func()) bool {
	if f.exempt {
		return true
	}
	now := time.Now()
	f.tokens = min(f.burst, f.tokens+now.Sub(f.at).Seconds()*f.rate)
	f.at = now
	f.tokens--
	if f.tokens >= 0 {
		f.backlog = time.Time{}
		return true
	}
	switch {
	case waited >= f.gap:
		f.backlog = time.Time{} // it paused: slow, not flooding
	case f.backlog.IsZero():
		f.backlog = now
	case now.Sub(f.backlog) > f.maxLag:
		return false
	}
	// Sleeping off half the deficit lets a brief burst through slowly.
	beforePause()
	time.Sleep(time.Duration(-f.tokens / f.rate * float64(time.Second) / 2))
	return true
}
