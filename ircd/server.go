// Package ircd is securechat's IRC protocol server: listeners, client
// lifecycle, registration, command handlers, channels, fan-out and history
// replay. See README.md "How it works" for the goroutine model.
package ircd

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"securechat/config"
	"securechat/ircd/accounts"
	"securechat/ircd/cluster"
	"securechat/ircd/history"
	"securechat/ircd/push"
	"securechat/ircd/transport"
	"securechat/metrics"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("ircd: server closed")

// Deps are the parts the server is built from; cmd/securechatd wires them.
// The server closes History in Shutdown, after its clients are gone.
type Deps struct {
	History *history.History
	// Accounts is the account registry; the daemon opens it when
	// config.Accounts is set, and it must then be given.
	Accounts *accounts.Registry
	Metrics  *metrics.Metrics
	Log      *slog.Logger
	TLS      *tls.Config // used by listeners started with tls=true
	Version  string
	// PushTuning, if set, adjusts the Web Push sender's config. Only
	// tests set it: their push service is on loopback (AllowInternal),
	// and one worker keeps pushes in order.
	PushTuning func(*push.Config)
	// Cluster, if set, makes the server a node of the cluster its Redis
	// client names (--cluster); the server adds the sealer and hooks.
	Cluster *cluster.Config
}

// Server is the IRC server. Its exported methods are safe to call from any
// goroutine. mu guards the nick and channel maps; each Channel and Client
// has its own mutex. Lock order: Server.mu, then Channel.mu, then Client.mu.
type Server struct {
	cfg     atomic.Pointer[config.Config]
	history *history.History
	// accounts is the account registry, nil when accounts are off; it
	// is fixed at start, so turning accounts on or off needs a restart.
	accounts *accounts.Registry
	push     *webpush     // draft/webpush, nil when accounts are off; see webpush.go
	link     *clusterLink // nil unless clustered; see link.go
	metrics  *metrics.Metrics
	log      *slog.Logger
	tls      *tls.Config
	version  string
	created  time.Time
	guard    *addrGuard
	motd     atomic.Pointer[[]string]

	mu        sync.RWMutex
	clients   map[string]*Client  // registered clients by casefolded nick
	channels  map[string]*Channel // by casefolded name
	whowas    *whowasRing
	listeners map[net.Listener]struct{}
	webs      map[*http.Server]struct{} // HTTPS listeners, see StartWeb
	conns     map[*Client]struct{}      // every connection, registered or not
	closing   bool
	lusers    luserCounts
	monitors  monitorIndex // its own lock; see monitor.go for the order
	markers   readMarkers  // its own lock; see markers.go

	stop      chan struct{}  // closed by Shutdown
	refusing  chan struct{}  // a slot per refused TLS connection being answered; see refuse
	bg        sync.WaitGroup // maintenance and listener goroutines
	nextID    atomic.Uint64
	msgidSeq  atomic.Uint64
	msgidNode uint32
	batchSeq  atomic.Uint64
	wg        sync.WaitGroup
	rehashF   atomic.Pointer[func() error] // set by the daemon so REHASH does what SIGHUP does
	// nickMu serializes taking nicks (registration, NICK), so the check
	// here and the claim in the cluster's Redis act as one step.
	nickMu sync.Mutex
	// maintainMu serializes Maintain, so keyring snapshots are saved in order.
	maintainMu sync.Mutex
	// tlsPort and plainListening decide the sts policy offered in CAP LS.
	tlsPort        atomic.Int32
	plainListening atomic.Bool
}

// NewServer builds a server from cfg and deps. It loads persisted channel
// state and starts the history writer; call Serve to accept clients.
func NewServer(cfg *config.Config, deps Deps) (*Server, error) {
	s := &Server{
		history:   deps.History,
		metrics:   deps.Metrics,
		log:       deps.Log,
		tls:       deps.TLS,
		version:   deps.Version,
		created:   time.Now(),
		clients:   make(map[string]*Client),
		channels:  make(map[string]*Channel),
		whowas:    newWhowasRing(1000),
		listeners: make(map[net.Listener]struct{}),
		webs:      make(map[*http.Server]struct{}),
		conns:     make(map[*Client]struct{}),
		msgidNode: randomUint32(),
		refusing:  make(chan struct{}, maxRefusing),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Accounts {
		if deps.Accounts == nil {
			return nil, errors.New("ircd: accounts are on but no account registry was given")
		}
		s.accounts = deps.Accounts
		if err := s.loadMarkers(); err != nil {
			return nil, err
		}
		if err := s.startPush(cfg, deps.PushTuning); err != nil {
			return nil, err
		}
	}
	s.cfg.Store(cfg)
	s.guard = newAddrGuard(s.config)
	s.loadMOTD(cfg)
	if err := s.loadChannels(); err != nil {
		s.closePush(context.Background()) // nothing was queued yet
		return nil, err
	}
	s.stop = make(chan struct{})
	if deps.Cluster != nil {
		if err := s.joinCluster(*deps.Cluster); err != nil {
			s.closePush(context.Background())
			return nil, err
		}
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.maintainLoop()
	}()
	return s, nil
}

// Start serves ln in a new goroutine; Serve's error, other than
// ErrServerClosed, is logged.
func (s *Server) Start(ln net.Listener, useTLS bool) {
	s.log.Info("listening", "addr", ln.Addr().String(), "tls", useTLS)
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && useTLS {
		s.tlsPort.Store(int32(tcp.Port))
	} else if !useTLS {
		s.plainListening.Store(true)
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := s.Serve(ln, useTLS); err != nil && !errors.Is(err, ErrServerClosed) {
			s.log.Error("listener failed", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

func (s *Server) config() *config.Config { return s.cfg.Load() }
func (s *Server) name() string           { return s.config().ServerName }

// SetRehash installs the function REHASH calls; the daemon passes the same
// reload it runs on SIGHUP.
func (s *Server) SetRehash(f func() error) { s.rehashF.Store(&f) }

// Reload swaps in a new configuration. Existing clients keep their
// connections; new limits apply from their next check.
func (s *Server) Reload(cfg *config.Config) {
	if cfg.Accounts != (s.accounts != nil) {
		s.log.Warn("the accounts setting changed; it takes effect at restart")
	}
	s.cfg.Store(cfg)
	s.loadMOTD(cfg)
}

// Serve accepts connections on ln until Shutdown. With useTLS each
// connection is wrapped with the server's TLS config.
func (s *Server) Serve(ln net.Listener, useTLS bool) error {
	if !s.trackListener(ln, true) {
		return ErrServerClosed
	}
	defer s.trackListener(ln, false)
	kind := metrics.ListenerPlain
	if useTLS {
		kind = metrics.ListenerTLS
	}
	var tempDelay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				time.Sleep(tempDelay)
				continue
			}
			return err
		}
		tempDelay = 0
		s.accept(nc, useTLS, kind)
	}
}

func (s *Server) trackListener(ln net.Listener, add bool) bool {
	return track(s, s.listeners, ln, add)
}

// snapshot copies the values of one of the server's maps, so callers can
// range over them without holding s.mu.
func snapshot[V any](s *Server, m map[string]V) []V {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// track adds k to one of the server's sets, unless the server is closing,
// or removes it.
func track[K comparable](s *Server, set map[K]struct{}, k K, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !add:
		delete(set, k)
	case s.closing:
		return false
	default:
		set[k] = struct{}{}
	}
	return true
}

func (s *Server) isClosing() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closing
}

// accept admits or refuses one new connection and starts its goroutines.
func (s *Server) accept(nc net.Conn, useTLS bool, kind string) {
	ip := remoteIP(nc)
	if reason := s.guard.admit(ip); reason != "" {
		s.refuse(nc, kind, reason)
		return
	}
	c := s.newClient(nc, ip, useTLS, kind)
	if !s.trackConn(c, true) {
		s.guard.release(ip)
		_ = nc.Close()
		return
	}
	s.metrics.ClientsConnected.WithLabelValues(kind).Inc()
	// Two parts to wait for: the reader, and the connection's last writer,
	// which reports through connClosed.
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		c.conn.Handshake(c.signon.Add(s.config().RegistrationTimeout))
		c.serve()
	}()
}

// connClosed runs once, on the connection's last writer, after its socket
// is closed; err is nil after an orderly close.
func (s *Server) connClosed(c *Client, err error) {
	if err != nil {
		c.quit("Write error") // a requested reason (SendQ, KILL) still wins
	}
	s.wg.Done()
}

// newClient builds the client for nc, which may be nil in benchmarks that
// never flush.
func (s *Server) newClient(nc net.Conn, ip netip.Addr, useTLS bool, kind string) *Client {
	id := s.nextID.Add(1)
	cfg := s.config()
	c := &Client{
		srv:      s,
		id:       id,
		ip:       ip,
		tls:      useTLS,
		listener: kind,
		log:      s.log.With("conn", id, "remote", ip.String()),
		signon:   time.Now(),
		host:     ip.String(),
		channels: make(map[*Channel]struct{}),
	}
	tc := transport.Config{SendQ: cfg.SendQ, OnClosed: func(err error) { s.connClosed(c, err) }}
	if kind == metrics.ListenerTLS { // a WebSocket arrives with its TLS done
		tc.TLS = s.tls
	}
	c.conn = transport.New(nc, tc)
	if ip.Is6() && !ip.Is4In6() {
		// A host starting with ':' would break the line's prefix.
		c.host = "[" + c.host + "]"
	}
	c.flood.init(cfg, s.guard.exempt(ip))
	return c
}

func (s *Server) trackConn(c *Client, add bool) bool { return track(s, s.conns, c, add) }

// Shutdown stops accepting, tells every client the server is going away,
// waits for their goroutines (or ctx) and flushes the history queue.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.shutdown(ctx, "Server shutting down")
}

// drainReason is what a draining node's clients read: the same address
// reaches another node at once.
const drainReason = "Server node restarting, please reconnect"

// Drain is Shutdown for a node of a cluster that an operator restarts
// (--drain): clients are told to reconnect, which takes them to another
// node behind the same address, and their quits, history and nicks are
// handed over before the node leaves the cluster.
func (s *Server) Drain(ctx context.Context) error {
	s.log.Info("draining: clients are asked to reconnect")
	return s.shutdown(ctx, drainReason)
}

func (s *Server) shutdown(ctx context.Context, reason string) error {
	s.mu.Lock()
	if !s.closing {
		close(s.stop)
	}
	s.closing = true
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for hs := range s.webs {
		_ = hs.Close() // not the WebSockets it handed over: they are in conns
	}
	conns := make([]*Client, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.disconnect(reason)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		s.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.closePush(ctx)
	// History first: a client that moved to another node reads it there.
	err := s.history.Close(ctx)
	s.link.leave(ctx)
	return err
}

// Ready reports whether the server is accepting and its store answers.
func (s *Server) Ready(ctx context.Context) error {
	s.mu.RLock()
	n, closing := len(s.listeners), s.closing
	s.mu.RUnlock()
	if closing || n == 0 {
		return errors.New("no listener accepting")
	}
	if s.link != nil && !s.link.up.Load() {
		return errors.New("cluster: this node holds no lease")
	}
	return s.history.Ping(ctx)
}

func remoteIP(nc net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.IPv6Unspecified()
}
