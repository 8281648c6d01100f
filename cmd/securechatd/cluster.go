package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"securechat/config"
	"securechat/ircd"
	"securechat/ircd/cluster"
	"securechat/store"
)

// errStopped means a signal ended the daemon before it served anyone.
var errStopped = errors.New("stopped before serving")

// clusterDeps fills deps.Cluster for --cluster and returns what closes
// its Redis client, to call after the server has shut down (a drain
// publishes its clients' quits through it). The client is the store's
// LinkClient: the same Redis or Redis Cluster, password and TLS, in the
// RESP2 the cluster's pub/sub needs, with connections of its own for the
// long-lived subscriptions.
func clusterDeps(cfg *config.Config, st store.Store, deps *ircd.Deps) (func(), error) {
	if !cfg.Cluster {
		return func() {}, nil
	}
	rs, ok := st.(*store.Redis)
	if !ok {
		return nil, errors.New("cluster: needs redis") // config refuses --cluster without it
	}
	client := rs.LinkClient()
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
