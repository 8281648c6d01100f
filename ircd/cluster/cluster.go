package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultLease is how long a node stays a member without renewing.
const DefaultLease = 10 * time.Second

// DefaultPublishQueue bounds the messages waiting to be published.
const DefaultPublishQueue = 4096

// Errors returned by Cluster methods.
var (
	// ErrNodeIDInUse means another live node holds the id given to Join.
	ErrNodeIDInUse = errors.New("cluster: node id in use by a live node")
	// ErrFenced means the node does not hold a lease at the moment (it lost
	// it, or Redis lost it); it re-registers on its own, then calls Reclaim.
	ErrFenced = errors.New("cluster: node holds no lease")
	// ErrClosed is returned after Leave or Stop.
	ErrClosed = errors.New("cluster: node has left")
	// ErrQueueFull means the publish queue is full: Redis is slower than the
	// traffic, or unreachable. The message is dropped, not delayed.
	ErrQueueFull = errors.New("cluster: publish queue full")
)

// Sealer seals and opens what crosses between nodes. The server backs it
// with its vault; the package never looks inside a payload. aad binds the
// sealed bytes to their target and envelope (see Message).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Message is a payload that arrived from another node, already opened.
type Message struct {
	Key     string // the channel key it was published to; "" when Direct
	Direct  bool   // sent to this node with SendNode
	Origin  string // the publishing node's id
	Payload []byte
	// Route numbers the receive goroutine that delivers it, one per
	// subscription connection, below Routes: the server may keep state
	// per route without locks, such as socket writes it holds until
	// Hooks.Flush.
	Route int
}

// Routes bounds Message.Route.
const Routes = buckets

// Hooks are the server's callbacks. Membership hooks (NodeUp, NodeDown,
// Fenced, Reclaim) run one at a time on the lease goroutine, in the order
// the events happened, so they must not block for long: the lease is
// renewed on the same goroutine. Message runs on a subscription's receive
// goroutine, in publish order per origin and key. Nil hooks are skipped.
type Hooks struct {
	// NodeUp reports a node seen for the first time (or a new incarnation).
	NodeUp func(id string)
	// NodeDown reports a node gone: its users are to be dropped. Its nicks
	// are already free in Redis, or will be at the next sweep.
	NodeDown func(id string, reason DownReason)
	// Fenced reports that this node lost its lease: its nicks may be held
	// by others now and its view of peers is void. The server drops its
	// cluster state; the node re-registers and then calls Reclaim.
	Fenced func(reason FenceReason)
	// Reclaim runs after the node re-registered (after Fenced, or after
	// Redis lost its data): the server claims its users' nicks again with
	// ClaimNick, renames those that lost, and re-subscribes nothing (the
	// subscriptions outlive both events).
	Reclaim func(ctx context.Context)
	// Message delivers a payload from another node. It runs on the
	// goroutine that also receives Redis's subscription confirmations, so
	// it must not block, nor call Subscribe or Unsubscribe and wait (hand
	// such work to another goroutine): go-redis buffers a little, then
	// stalls and finally drops that connection's traffic.
	Message func(Message)
	// Flush runs on a route's receive goroutine once it has delivered
	// every message it had buffered: the end of a burst, when the server
	// writes what it held back.
	Flush func(route int)
}

// Config configures Join.
type Config struct {
	Client redis.UniversalClient // a *redis.Client or *redis.ClusterClient, Protocol 2
	NodeID string                // generated when empty
	Prefix string                // of every key and shard channel; "sc:" when empty
	Lease  time.Duration         // DefaultLease when zero
	Sealer Sealer                // required
	Hooks  Hooks
	Logger *slog.Logger // slog.Default() when nil
	// PublishQueue bounds messages waiting for Redis; DefaultPublishQueue
	// when zero.
	PublishQueue int
}

// Cluster is this node's membership in the cluster. Its methods are safe
// for concurrent use.
type Cluster struct {
	cfg    Config
	client redis.UniversalClient
	names  names
	id     string
	inc    uint64 // this process's incarnation, in every envelope it sends
	log    *slog.Logger
	stats  counters

	lease *lease
	fan   *fanout

	stop     context.CancelFunc
	stopOnce sync.Once
	closed   atomic.Bool
	done     sync.WaitGroup
}

// Join registers the node, starts renewing its lease and subscribes to its
// own node channel. It fails with ErrNodeIDInUse if a live node holds the
// id already: a node restarted with a fixed id waits until its previous
// lease runs out.
func Join(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := fill(&cfg); err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg: cfg, client: cfg.Client, names: names{cfg.Prefix},
		id: cfg.NodeID, inc: randUint64(), log: cfg.Logger.With("node", cfg.NodeID),
	}
	c.lease = newLease(c)
	if err := c.lease.register(ctx, c.lease.token); err != nil {
		return nil, err
	}
	c.fan = newFanout(c)
	if err := c.fan.subscribe(ctx, c.names.node(c.id)); err != nil {
		c.fan.close()
		_ = c.lease.leave(context.WithoutCancel(ctx))
		return nil, err
	}
	loop, stop := context.WithCancel(context.Background())
	c.stop = stop
	c.done.Add(2)
	go func() { defer c.done.Done(); c.lease.run(loop) }()
	go func() { defer c.done.Done(); c.fan.publishLoop(loop) }()
	return c, nil
}

// fill checks cfg and sets its defaults.
func fill(cfg *Config) error {
	if cfg.Client == nil || cfg.Sealer == nil {
		return errors.New("cluster: Config needs a Client and a Sealer")
	}
	if err := checkProtocol(cfg.Client); err != nil {
		return err
	}
	if cfg.NodeID == "" {
		cfg.NodeID = hex.EncodeToString(randBytes(8))
	}
	if err := checkKey(cfg.NodeID); err != nil {
		return fmt.Errorf("node id: %w", err)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "sc:"
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return fmt.Errorf("%w: prefix holds a brace", ErrBadKey)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.PublishQueue <= 0 {
		cfg.PublishQueue = DefaultPublishQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

// ID returns the node's id.
func (c *Cluster) ID() string { return c.id }

// Leave publishes what is queued, closes the subscriptions and
// deregisters the node, freeing its nicks; peers report it gone with
// DownLeft at their next sweep.
func (c *Cluster) Leave(ctx context.Context) error {
	c.halt()
	return c.lease.leave(ctx)
}

// Stop halts the node's goroutines without deregistering, as a crash
// would: its lease runs out and a peer frees its nicks. The server calls
// it when Redis is unreachable at shutdown.
func (c *Cluster) Stop() { c.halt() }

// halt stops the loops once; the publish loop drains its queue first.
func (c *Cluster) halt() {
	c.stopOnce.Do(func() {
		c.closed.Store(true)
		c.fan.closePublish()
		c.stop()
		c.done.Wait()
		c.fan.close()
	})
}

// checkProtocol insists on RESP2. Under RESP3, go-redis v9.17.3 reads
// pub/sub messages as push notifications and drops one whenever a socket
// read ends inside the notification's name (go-redis issue 3839, fixed in
// v9.21.0): TestSingleRedis/FanoutOrderAndInterest caught it as a gap.
// RESP2 replies carry the same data for everything this package does.
func checkProtocol(c redis.UniversalClient) error {
	var proto int
	switch c := c.(type) {
	case *redis.Client:
		proto = c.Options().Protocol
	case *redis.ClusterClient:
		proto = c.Options().Protocol
	default:
		return fmt.Errorf("cluster: unsupported client %T; use *redis.Client or *redis.ClusterClient", c)
	}
	if proto != 2 {
		return errors.New("cluster: the Redis client must use RESP2 (Options.Protocol = 2)")
	}
	return nil
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

func randUint64() uint64 { return binary.BigEndian.Uint64(randBytes(8)) }
