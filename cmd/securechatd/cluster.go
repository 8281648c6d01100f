package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"securechat/config"
	"securechat/ircd"
	"securechat/ircd/cluster"
)

// errStopped means a signal ended the daemon before it served anyone.
var errStopped = errors.New("stopped before serving")

// clusterDeps fills deps.Cluster for --cluster and returns what closes
// its Redis client, to call after the server has shut down (a drain
// publishes its clients' quits through it). The cluster has a client of
// its own, not the store's: it needs RESP2 for its pub/sub, and long-lived
// subscription connections that must not take the store's pool.
func clusterDeps(cfg *config.Config, deps *ircd.Deps) (func(), error) {
	if !cfg.Cluster {
		return func() {}, nil
	}
	o, err := redis.ParseURL(cfg.Redis)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // net/url's message repeats the URL
		}
		return nil, fmt.Errorf("redis: %w", err)
	}
	if cfg.RedisPasswordFile != "" {
		if o.Password, err = config.ReadSecretFile(cfg.RedisPasswordFile); err != nil {
			return nil, fmt.Errorf("redis-password-file: %w", err)
		}
	}
	o.Protocol = 2
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	client := redis.NewClient(o)
	deps.Cluster = &cluster.Config{Client: client, NodeID: cfg.NodeID, Lease: cfg.ClusterLease}
	return func() { _ = client.Close() }, nil
}

// newServer builds the server. A node restarted with its --node-id soon
// after a crash finds the id still held by its previous run's lease, so
// it waits for that lease to run out — at most cluster-lease and one
// sweep, as long as peers take to drop its users — and then joins. An id
// still held after that belongs to a live node: a configuration mistake,
// reported rather than waited out. SIGTERM or SIGINT ends the wait.
func newServer(cfg *config.Config, deps ircd.Deps, sigs <-chan os.Signal, log *slog.Logger) (*ircd.Server, error) {
	deadline := time.Now().Add(cfg.ClusterLease + cfg.ClusterLease/3)
	for {
		srv, err := ircd.NewServer(cfg, deps)
		if !errors.Is(err, cluster.ErrNodeIDInUse) {
			return srv, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("node-id: %q is held by another live node; give each node its own id", cfg.NodeID)
		}
		log.Warn("node id still held, by this node's previous run if it just stopped; waiting for its lease to run out", "node", cfg.NodeID)
		if stopped(sigs, cfg.ClusterLease/4) {
			return nil, errStopped
		}
	}
}

// stopped waits d and reports whether SIGTERM or SIGINT came meanwhile;
// SIGHUP has no configuration to reload yet.
func stopped(sigs <-chan os.Signal, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case sig := <-sigs:
			if sig != syscall.SIGHUP {
				return true
			}
		case <-timer.C:
			return false
		}
	}
}
