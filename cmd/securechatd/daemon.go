package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"securechat/config"
	"securechat/ircd"
	"securechat/ircd/accounts"
	"securechat/ircd/history"
	"securechat/metrics"
	"securechat/store"
)

// daemon runs the server until SIGTERM or SIGINT; SIGHUP reloads.
func daemon(cfg *config.Config, args, env []string, log *slog.Logger, stdout, stderr io.Writer) error {
	// Signals are caught from the start: a Ctrl-C right after "listening"
	// is logged must still shut down in order, not kill the process.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	ctx := context.Background()
	pw, generated, err := config.Password(cfg, env)
	if err != nil {
		return err
	}
	warnPassword(config.PasswordWarnings(cfg, pw), log, stderr)
	if generated {
		fmt.Fprintf(stdout, "Generated the room password (kept in %s; shown only this once):\n\n    %s\n\n",
			filepath.Join(cfg.DataDir, "room-password"), pw)
	}
	redis.SetLogger(redisLogger{log})
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, version)
	st, err := openStore(ctx, cfg, m, log)
	if err != nil {
		return err
	}
	defer st.Close()
	vault, err := history.OpenVault(ctx, st, pw, cfg.KeyEpoch)
	if err != nil {
		return err
	}
	// Argon2id's 64 MiB of scratch memory is garbage now; hand it back so
	// the daemon's footprint shows what it really uses.
	debug.FreeOSMemory()
	certs, err := config.NewCertificates(cfg)
	if err != nil {
		return err
	}
	if fp := certs.Fingerprint(); fp != "" { // ACME certificates need no pinning
		log.Info("TLS certificate", "sha256", fp)
	}
	h := history.New(vault, st, history.Options{QueueSize: cfg.WriteQueueSize, Metrics: m, Log: log, Shared: cfg.Cluster})
	accts, err := openAccounts(ctx, cfg, h)
	if err != nil {
		return err
	}
	deps := ircd.Deps{History: h, Accounts: accts, Metrics: m, Log: log, TLS: certs.TLSConfig(), Version: version}
	closeCluster, err := clusterDeps(cfg, st, &deps)
	if err != nil {
		return err
	}
	defer closeCluster()
	srv, err := newServer(cfg, deps, sigs, log)
	if errors.Is(err, errStopped) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := listen(srv, cfg); err != nil {
		_ = srv.Shutdown(ctx)
		return err
	}
	// After listen: a TLS-ALPN-01 validation connects to the TLS listener.
	stopACME, err := certs.StartACME(log)
	if err != nil {
		_ = srv.Shutdown(ctx)
		return err
	}
	defer func() { _ = stopACME(ctx) }()
	hs, err := serveMetrics(cfg, reg, srv, log)
	if err != nil {
		_ = srv.Shutdown(ctx)
		return err
	}
	reload := func() error { return reloadConfig(args, env, certs, srv, log) }
	srv.SetRehash(reload)
	waitForSignals(sigs, reload, log)
	return shutdown(srv, hs, cfg.Drain, log)
}

// warnPassword reports each warning about the room password twice: in the
// log at WARN, for whoever reads the logs, and as a plain line on stderr,
// which a --log-level of error does not hide.
func warnPassword(warnings []string, log *slog.Logger, stderr io.Writer) {
	for _, w := range warnings {
		log.Warn(w)
		fmt.Fprintf(stderr, "securechatd: WARNING: %s\n", w)
	}
}

// openAccounts loads the account registry when accounts are on; nil
// when they are off.
func openAccounts(ctx context.Context, cfg *config.Config, h *history.History) (*accounts.Registry, error) {
	if !cfg.Accounts {
		return nil, nil
	}
	return accounts.Open(ctx, h, accounts.Options{})
}

func openStore(ctx context.Context, cfg *config.Config, m *metrics.Metrics, log *slog.Logger) (store.Store, error) {
	opts := store.Options{MaxLen: cfg.HistoryMaxLen}
	if m != nil { // the key tools run without metrics, and append nothing
		opts.ObserveLatency = func(op string, d time.Duration) {
			m.StoreLatency.WithLabelValues(op).Observe(d.Seconds())
		}
		opts.OnIndexError = func(err error) {
			m.HistoryErrors.WithLabelValues(metrics.OpIndex).Inc()
			log.Warn("history stored, but Redis refused the CHATHISTORY TARGETS index update", "err", err)
		}
	}
	if cfg.Redis == "" {
		return openBolt(cfg.DataDir, opts)
	}
	if cfg.RedisPasswordFile != "" {
		pw, err := config.ReadSecretFile(cfg.RedisPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("redis-password-file: %w", err)
		}
		opts.Password = pw
	}
	if cfg.RedisCluster {
		return store.OpenRedisCluster(ctx, cfg.Redis, opts)
	}
	return store.OpenRedis(ctx, cfg.Redis, opts)
}

// boltFile is the embedded store's file inside the data directory.
const boltFile = "securechat.db"

// openBolt opens the embedded store in dataDir, creating the directory
// (0700: it also holds the room password and TLS key) if needed.
func openBolt(dataDir string, opts store.Options) (*store.Bolt, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data-dir: %w", err)
	}
	return store.OpenBolt(filepath.Join(dataDir, boltFile), opts)
}

func listen(srv *ircd.Server, cfg *config.Config) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv.Start(ln, true)
	if cfg.ListenPlain != "" {
		pln, err := net.Listen("tcp", cfg.ListenPlain)
		if err != nil {
			return fmt.Errorf("listen-plain: %w", err)
		}
		srv.Start(pln, false)
	}
	if cfg.WebListen != "" {
		wln, err := net.Listen("tcp", cfg.WebListen)
		if err != nil {
			return fmt.Errorf("web-listen: %w", err)
		}
		srv.StartWeb(wln)
	}
	return nil
}

// serveMetrics starts the separate metrics listener, if configured.
func serveMetrics(cfg *config.Config, reg *prometheus.Registry, srv *ircd.Server, log *slog.Logger) (*http.Server, error) {
	if cfg.MetricsListen == "" {
		return nil, nil
	}
	var token string
	if cfg.MetricsTokenFile != "" {
		t, err := config.ReadSecretFile(cfg.MetricsTokenFile)
		if err != nil {
			return nil, fmt.Errorf("metrics-token-file: %w", err)
		}
		token = t
	}
	ln, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("metrics-listen: %w", err)
	}
	ready := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Ready(ctx)
	}
	hs := &http.Server{
		Handler:           metrics.Handler(reg, metrics.HandlerOptions{Token: token, Ready: ready, Logger: log}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Info("metrics listening", "addr", ln.Addr().String())
	go func() { _ = hs.Serve(ln) }()
	return hs, nil
}

func reloadConfig(args, env []string, certs *config.Certificates, srv *ircd.Server, log *slog.Logger) error {
	cfg, err := config.Load(args, env)
	if err != nil {
		log.Error("reload refused, keeping the running configuration", "err", err)
		return err
	}
	if err := certs.ReloadWith(cfg); err != nil {
		log.Error("reload refused, keeping the running certificate", "err", err)
		return err
	}
	srv.Reload(cfg)
	log.Info("configuration reloaded", "tls_sha256", certs.Fingerprint())
	return nil
}

func waitForSignals(sigs <-chan os.Signal, reload func() error, log *slog.Logger) {
	for sig := range sigs {
		if sig != syscall.SIGHUP {
			log.Info("shutting down", "signal", sig.String())
			return
		}
		_ = reload()
	}
}

// shutdown stops the server, or drains it (--drain), and the metrics
// listener. Its error, such as history that could not be flushed to the
// store in time, becomes the process's non-zero exit status, so a
// supervisor sees that data was lost.
func shutdown(srv *ircd.Server, hs *http.Server, drain bool, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	stop := srv.Shutdown
	if drain {
		stop = srv.Drain
	}
	err := stop(ctx)
	if hs != nil {
		_ = hs.Shutdown(ctx)
	}
	if err != nil {
		log.Error("shutdown incomplete", "err", err)
		return fmt.Errorf("shutdown incomplete, history may be lost: %w", err)
	}
	return nil
}

// redisLogger sends go-redis's own messages (pool dial failures while
// Redis is down) through the daemon's structured log instead of stderr.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn("redis client", "msg", fmt.Sprintf(format, v...))
}
