package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// recvBuffer is how many messages a subscription connection buffers
// before go-redis waits for the receive goroutine.
const recvBuffer = 1024

// fanout carries messages between nodes over Redis sharded pub/sub: one
// shard channel per channel key and one per node. A node subscribes to a
// key's shard channel only while it has local members for it, so Redis
// sends it only that traffic.
//
// mu guards refs, pending, confirmed and routes; it is never held while
// talking to Redis. pubMu guards the publish side (seq, queue, closed).
type fanout struct {
	c *Cluster

	mu        sync.Mutex
	refs      map[string]int           // shard channel -> local subscribers
	pending   map[string]chan struct{} // closed when Redis confirms the subscription
	confirmed map[string]bool          // subscribed on the wire
	routes    map[int]*route
	routeMu   sync.Mutex // serialises route creation, which may ask Redis for the slot map

	pubMu     sync.Mutex
	seq       map[string]uint64 // shard channel -> last sequence number sent
	queue     []outgoing
	wake      chan struct{}
	pubClosed bool
}

// route is one subscription connection. On a single Redis there is one;
// on a Redis Cluster there is one per bucket, connected to the master of
// the bucket's slot (see buckets). mu keeps the (un)subscribe commands on
// the wire in the order the reference counts changed.
type route struct {
	index int // the bucket, or 0 on a single Redis; Message.Route
	mu    sync.Mutex
	ps    *redis.PubSub
	done  chan struct{} // closed when the receive goroutine ends
}

func newFanout(c *Cluster) *fanout {
	return &fanout{
		c: c, refs: make(map[string]int), pending: make(map[string]chan struct{}),
		confirmed: make(map[string]bool), routes: make(map[int]*route),
		seq: make(map[string]uint64), wake: make(chan struct{}, 1),
	}
}

// Subscribe makes the node receive what is published to key, until as
// many Unsubscribe calls. It returns once Redis confirmed the
// subscription. On an error the subscription stays registered and go-redis
// establishes it when Redis answers; Unsubscribe drops it.
func (c *Cluster) Subscribe(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return c.fan.subscribe(ctx, c.names.channel(key))
}

// Unsubscribe undoes one Subscribe; the last one ends the subscription.
func (c *Cluster) Unsubscribe(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return c.fan.unsubscribe(ctx, c.names.channel(key))
}

func (f *fanout) subscribe(ctx context.Context, ch string) error {
	r, created, err := f.route(ctx, ch)
	if err != nil {
		return err
	}
	if !created {
		r.mu.Lock()
	}
	f.mu.Lock()
	f.refs[ch]++
	first := f.refs[ch] == 1
	if first && !f.confirmed[ch] {
		f.pending[ch] = make(chan struct{})
	}
	wait := f.pending[ch]
	f.mu.Unlock()
	if first && !created {
		err = r.ps.SSubscribe(ctx, ch)
	}
	r.mu.Unlock()
	if err != nil {
		f.c.log.Warn("cluster: subscribe failed; go-redis retries", "err", err)
	}
	if wait == nil {
		return nil
	}
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: subscription not confirmed: %w", ctx.Err())
	}
}

func (f *fanout) unsubscribe(ctx context.Context, ch string) error {
	f.mu.Lock()
	r := f.routes[f.routeIndex(ch)]
	f.mu.Unlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f.mu.Lock()
	n := f.refs[ch]
	switch {
	case n > 1:
		f.refs[ch] = n - 1
	case n == 1:
		delete(f.refs, ch)
		// A Subscribe before Redis confirms this must wait for its own
		// confirmation.
		delete(f.confirmed, ch)
	}
	f.mu.Unlock()
	if n != 1 {
		return nil
	}
	if err := r.ps.SUnsubscribe(ctx, ch); err != nil {
		return fmt.Errorf("cluster: unsubscribe: %w", err)
	}
	return nil
}

// routeIndex picks the connection for a shard channel: its bucket on a
// Redis Cluster, the one connection otherwise.
func (f *fanout) routeIndex(ch string) int {
	if _, ok := f.c.client.(*redis.ClusterClient); !ok {
		return 0
	}
	tag, _, _ := strings.Cut(ch[strings.IndexByte(ch, '{')+1:], "}")
	var b int
	fmt.Sscanf(tag, "b%d", &b)
	return b
}

// route returns the connection for ch, creating it subscribed to ch if
// there is none yet; then created is true and the route is returned with
// its mu held, so the creator counts its reference before anyone else. go-redis routes a cluster PubSub
// by its first channel but, after a reconnect, to a random node, so on a
// cluster the connection is opened on the slot's master directly: it then
// reconnects to the same address, where go-redis resubscribes it.
func (f *fanout) route(ctx context.Context, ch string) (*route, bool, error) {
	i := f.routeIndex(ch)
	f.routeMu.Lock()
	defer f.routeMu.Unlock()
	f.mu.Lock()
	r := f.routes[i]
	f.mu.Unlock()
	if r != nil {
		return r, false, nil
	}
	var src redis.UniversalClient = f.c.client
	if cc, ok := f.c.client.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, ch)
		if err != nil {
			return nil, false, fmt.Errorf("cluster: find the master for a shard channel: %w", err)
		}
		src = m
	}
	r = &route{index: i, ps: src.SSubscribe(ctx, ch), done: make(chan struct{})}
	r.mu.Lock()
	msgs := r.ps.ChannelWithSubscriptions(redis.WithChannelSize(recvBuffer))
	go f.receive(r, msgs)
	f.mu.Lock()
	f.routes[i] = r
	f.mu.Unlock()
	return r, true, nil
}

// receive handles one connection's traffic until it is closed. Sequence
// state is per connection, which every message of a shard channel uses.
func (f *fanout) receive(r *route, msgs <-chan any) {
	defer close(r.done)
	seen := make(map[string]map[source]uint64)
	held := false // a message was delivered since the last Flush
	for m := range msgs {
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "sunsubscribe" {
				delete(seen, m.Channel)
			}
			f.onSubscription(m.Kind, m.Channel)
		case *redis.Message:
			held = f.deliver(seen, r.index, m.Channel, []byte(m.Payload)) || held
		}
		if held && len(msgs) == 0 {
			if hook := f.c.cfg.Hooks.Flush; hook != nil {
				hook(r.index)
			}
			held = false
		}
	}
}

// onSubscription records Redis's confirmations; a confirmation for a
// channel that was already subscribed is go-redis resubscribing after a
// reconnect.
func (f *fanout) onSubscription(kind, ch string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch kind {
	case "ssubscribe":
		if f.confirmed[ch] {
			f.c.stats.resubscribes.Add(1)
		}
		f.confirmed[ch] = true
		if p := f.pending[ch]; p != nil {
			close(p)
			delete(f.pending, ch)
		}
	case "sunsubscribe":
		delete(f.confirmed, ch)
	}
}

// close ends every subscription connection and waits for its goroutine.
func (f *fanout) close() {
	f.mu.Lock()
	routes := f.routes
	f.routes = make(map[int]*route)
	f.mu.Unlock()
	for _, r := range routes {
		_ = r.ps.Close()
		<-r.done
	}
}
