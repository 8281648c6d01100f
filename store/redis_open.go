package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// OpenRedis connects to the Redis server at rawURL (redis:// or rediss://)
// and checks that it answers, so a wrong address or password fails at
// startup. opts.Password, if set, replaces the URL's password. Errors never
// contain the URL, which may hold a password.
func OpenRedis(ctx context.Context, rawURL string, opts Options) (*Redis, error) {
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: parse redis URL: %w", redactURLError(err))
	}
	build := func(role clientRole) redis.UniversalClient {
		c := *o
		role.tune(opts, clientFields{&c.Password, &c.MaintNotificationsConfig, &c.PoolSize, &c.ContextTimeoutEnabled, &c.Protocol})
		return redis.NewClient(&c)
	}
	return open(ctx, build, singleLayout(prefixOf(opts)), opts)
}

// OpenRedisCluster connects to the Redis Cluster that rawURL names and
// checks that every master answers. The URL is redis://host:port or
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
	build := func(role clientRole) redis.UniversalClient {
		c := *o
		role.tune(opts, clientFields{&c.Password, &c.MaintNotificationsConfig, &c.PoolSize, &c.ContextTimeoutEnabled, &c.Protocol})
		return redis.NewClusterClient(&c)
	}
	return open(ctx, build, names, opts)
}

// clientRole is what a client of the store is for.
type clientRole int

const (
	roleReader clientRole = iota // queries and everything but appends
	roleWriter                   // the Queue's appends
	roleLink                     // LinkClient's, for the cluster package
)

// clientFields points at the options a role sets, in a *redis.Options or
// a *redis.ClusterOptions alike.
type clientFields struct {
	password   *string
	maint      **maintnotifications.Config
	poolSize   *int
	ctxTimeout *bool
	protocol   *int
}

// tune sets f for role: opts.Password over the URL's, and no maintenance
// notifications, which neither a single open-source Redis nor its
// cluster sends (asking costs a round trip per connection). The writer
// serves the Queue's one goroutine: one connection (per master), and a
// spare while a broken one is replaced, are all it needs, and its
// context's deadline bounds each write (Queue.WriteTimeout), not only
// the client's read and write timeouts. The link client speaks RESP2.
func (role clientRole) tune(opts Options, f clientFields) {
	if opts.Password != "" {
		*f.password = opts.Password
	}
	*f.maint = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	switch role {
	case roleWriter:
		*f.poolSize, *f.ctxTimeout = 2, true
	case roleLink:
		*f.protocol = 2
	}
}

// open builds the store on the clients build makes and checks that Redis
// answers.
func open(ctx context.Context, build func(clientRole) redis.UniversalClient, names keyLayout, opts Options) (*Redis, error) {
	r := &Redis{
		client: build(roleReader), writer: build(roleWriter),
		link:  func() redis.UniversalClient { return build(roleLink) },
		names: names, maxLen: opts.MaxLen, observe: opts.ObserveLatency,
		onIndex: opts.OnIndexError, top: make(map[string]int64),
	}
	if err := r.Ping(ctx); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("store: open redis: %w", err)
	}
	return r, nil
}

// prefixOf returns the key prefix opts asks for.
func prefixOf(opts Options) string {
	if opts.Prefix == "" {
		return DefaultPrefix
	}
	return opts.Prefix
}

// LinkClient returns a new client to the same Redis or Redis Cluster, with
// the same addresses, password and TLS, speaking RESP2 (a *redis.Client
// or a *redis.ClusterClient), for the cluster coordination package, which
// needs RESP2. The caller closes it.
func (r *Redis) LinkClient() redis.UniversalClient { return r.link() }

// redactURLError drops the URL that net/url puts in its parse errors.
func redactURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
