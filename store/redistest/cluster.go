package redistest

import (
	"context"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Cluster is a Redis Cluster of real redis-server processes, every one a
// master (no replicas), owned by a test.
type Cluster struct {
	t       testing.TB
	Servers []*Server

	mu     sync.Mutex
	client *redis.ClusterClient
}

// StartCluster starts n redis-server processes in cluster mode on free
// loopback ports, joins them with redis-cli --cluster create (n masters,
// the 16384 slots split between them) and waits until every node reports
// cluster_state:ok. Redis needs at least 3 masters for a cluster.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatalf("redistest: redis-cli not found on PATH (%v); run .ci/install-deps", err)
	}
	c := &Cluster{t: t}
	args := []string{"--cluster", "create"}
	for range n {
		// nodes.conf lands in the server's own directory, so a Restart
		// rejoins the cluster with the same identity.
		s := Start(t, WithArgs("--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"))
		c.Servers = append(c.Servers, s)
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	t.Cleanup(c.cleanup)
	c.waitOK()
	return c
}

// waitOK polls CLUSTER INFO on every node until each says
// cluster_state:ok, or fails the test after startTimeout.
func (c *Cluster) waitOK() {
	deadline := time.Now().Add(startTimeout)
	for _, s := range c.Servers {
		for {
			info, err := s.Client().ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("redistest: cluster not ok within %v (err %v):\n%s", startTimeout, err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Addrs returns every node's host:port.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		addrs[i] = s.Addr()
	}
	return addrs
}

// URL names the cluster by its first node, with the others as addr=
// parameters: the form of store.OpenRedisCluster and --redis-cluster.
func (c *Cluster) URL() string {
	addrs := c.Addrs()
	return "redis://" + addrs[0] + "?" + url.Values{"addr": addrs[1:]}.Encode()
}

// Client returns a cluster client for assertions, shared by the test and
// closed when it ends.
func (c *Cluster) Client() *redis.ClusterClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		c.client = c.NewClient()
	}
	return c.client
}

// NewClient returns a new cluster client the caller must close; tests give
// each simulated node its own, as separate processes would have. edit may
// change the options first.
func (c *Cluster) NewClient(edit ...func(*redis.ClusterOptions)) *redis.ClusterClient {
	opt := &redis.ClusterOptions{
		Addrs: c.Addrs(),
		// Local test servers send no maintenance notifications.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	for _, e := range edit {
		e(opt)
	}
	return redis.NewClusterClient(opt)
}

func (c *Cluster) cleanup() {
	c.mu.Lock()
	cl := c.client
	c.mu.Unlock()
	if cl != nil {
		_ = cl.Close()
	}
}
