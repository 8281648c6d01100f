package config

import (
	"strings"
	"testing"
	"time"
)

// TestClusterSettings sets the cluster settings from each layer (flags,
// environment, config file) and checks the defaults: no cluster, a
// generated node id, a 10s lease, a plain shutdown.
func TestClusterSettings(t *testing.T) {
	t.Parallel()
	file := writeFile(t, t.TempDir(), "node.conf",
		"redis = redis://redis:6379/0\ncluster = true\nnode-id = file-node\ncluster-lease = 3s\ndrain = true\n")
	tests := []struct {
		name  string
		args  []string
		env   []string
		id    string
		lease time.Duration
		on    bool
	}{
		{name: "defaults", lease: 10 * time.Second},
		{name: "flags", args: []string{"--redis=redis://r:6379", "--cluster", "--node-id", "n1", "--cluster-lease=2s", "--drain"}, id: "n1", lease: 2 * time.Second, on: true},
		{name: "environment", env: []string{"SECURECHAT_REDIS=redis://r:6379", "SECURECHAT_CLUSTER=true", "SECURECHAT_NODE_ID=host-2", "SECURECHAT_CLUSTER_LEASE=5s", "SECURECHAT_DRAIN=1"}, id: "host-2", lease: 5 * time.Second, on: true},
		{name: "config file", args: []string{"--config", file}, id: "file-node", lease: 3 * time.Second, on: true},
		{name: "flag over file", args: []string{"--config", file, "--node-id=flag-node", "--drain=false"}, id: "flag-node", lease: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.NodeID != tt.id || cfg.ClusterLease != tt.lease || cfg.Drain != tt.on {
				t.Errorf("NodeID, ClusterLease, Drain = %q, %v, %v; want %q, %v, %v", cfg.NodeID, cfg.ClusterLease, cfg.Drain, tt.id, tt.lease, tt.on)
			}
			if wantCluster := tt.name != "defaults"; cfg.Cluster != wantCluster {
				t.Errorf("Cluster = %v, want %v", cfg.Cluster, wantCluster)
			}
		})
	}
}

// TestClusterUsage checks --help documents the cluster flags and states
// the time a dead node's users take to be dropped.
func TestClusterUsage(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	Usage(&b)
	for _, want := range []string{"  --cluster\n", "  --node-id=VALUE\n", "  --cluster-lease=VALUE\n", "  --drain\n",
		"cluster-lease + cluster-lease/3", "env SECURECHAT_CLUSTER_LEASE, default \"10s\"", "waits"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}
