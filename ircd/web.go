package ircd

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"securechat/ircd/transport"
	"securechat/ircd/webclient"
	"securechat/metrics"
)

// WebSocketPath is where the HTTPS listener serves IRC over WebSocket
// (wss://host:port/ws); everything else is the web client.
const WebSocketPath = "/ws"

// StartWeb serves HTTPS on ln in a new goroutine, with the server's TLS
// configuration: IRC over WebSocket at WebSocketPath, the web client
// elsewhere.
// Shutdown closes it; the WebSocket clients it accepted are clients like
// any other and are shut down with them.
func (s *Server) StartWeb(ln net.Listener) {
	// The TLS settings are copied: serving HTTP/2 appends h2 and http/1.1
	// to NextProtos in place, which on the IRC listener's settings would
	// refuse IRC clients that offer an ALPN protocol of their own.
	hs := &http.Server{
		Handler:           s.WebHandler(),
		TLSConfig:         s.tls.Clone(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ConnContext:       transport.WebSocketConnContext,
		// Handshake failures and scanners' junk are no operator's business.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if !track(s, s.webs, hs, true) {
		_ = ln.Close()
		return
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "web", true)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer track(s, s.webs, hs, false)
		if err := hs.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("web listener failed", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// WebHandler returns the HTTPS listener's handler: IRC over WebSocket at
// WebSocketPath, the embedded web client (package webclient) elsewhere,
// with HSTS while the server's STS policy is on. It expects to run under StartWeb's
// http.Server, whose ConnContext lets a stuck WebSocket be dropped at once.
func (s *Server) WebHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+WebSocketPath, s.serveWebSocket)
	mux.Handle("GET /", webclient.Handler(s.stsOn))
	return mux
}

// serveWebSocket upgrades the request and admits the WebSocket as a
// client: the same guard, registration, flood control and send queue as
// a TCP one, counted under the websocket listener label.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if s.isClosing() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	nc, err := transport.AcceptWebSocket(w, r, s.config().WebOrigins)
	if err != nil {
		s.log.Debug("websocket refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	s.accept(nc, true, metrics.ListenerWebSocket)
}
