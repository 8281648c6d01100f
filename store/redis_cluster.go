package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// OpenRedisCluster connects to the Redis Cluster that rawURL names and
// checks that it answers. The URL is redis://host:port or
// rediss://host:port, with further seed nodes as addr query parameters:
//
//	redis://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379
//
// Any one reachable seed is enough: the client learns the other nodes
// from it. A cluster has no databases, so a /db path is ignored.
// opts.Password, if set, replaces the URL's password; errors never
// contain the URL. The keys are hash-tagged as keyLayout describes, so
// opts.Prefix may not contain { or }.
func OpenRedisCluster(ctx context.Context, rawURL string, opts Options) (*Redis, error) {
	names, err := clusterLayout(prefixOf(opts))
	if err != nil {
		return nil, err
	}
	o, err := redis.ParseClusterURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: parse redis cluster URL: %w", redactURLError(err))
	}
	if opts.Password != "" {
		o.Password = opts.Password
	}
	// As on one node: OSS Redis Cluster sends no maintenance notifications.
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	// The Queue's writer needs one connection per master, and a spare;
	// its context's deadline bounds each write (see OpenRedis).
	wo := *o
	wo.PoolSize = 2
	wo.ContextTimeoutEnabled = true
	link := func() redis.UniversalClient {
		lo := *o
		lo.Protocol = 2
		return redis.NewClusterClient(&lo)
	}
	return open(ctx, redis.NewClusterClient(o), redis.NewClusterClient(&wo), link, names, opts)
}
