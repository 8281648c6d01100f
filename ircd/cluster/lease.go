package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DownReason says why a peer is gone.
type DownReason int

// Reasons for Hooks.NodeDown.
const (
	DownExpired  DownReason = iota + 1 // its lease ran out: it crashed or lost Redis
	DownLeft                           // it called Leave
	DownReplaced                       // it re-registered as a new incarnation (it was fenced)
)

func (r DownReason) String() string {
	switch r {
	case DownExpired:
		return "expired"
	case DownLeft:
		return "left"
	case DownReplaced:
		return "replaced"
	}
	return "unknown"
}

// FenceReason says how this node learnt that it lost its lease.
type FenceReason int

// Reasons for Hooks.Fenced.
const (
	FenceLeaseLost   FenceReason = iota + 1 // Redis says the lease ran out or was taken
	FenceUnreachable                        // no renewal reached Redis for a whole lease
)

func (r FenceReason) String() string {
	switch r {
	case FenceLeaseLost:
		return "lease lost"
	case FenceUnreachable:
		return "redis unreachable"
	}
	return "unknown"
}

// lease registers the node and renews its lease every Lease/3 on its own
// goroutine (run), which also sweeps the registry for peers that came and
// went. mu guards token, epoch and fenced, which the nick methods read
// from any goroutine; lastRenew and peers belong to the lease goroutine
// (and to Join, before that goroutine starts).
type lease struct {
	c *Cluster

	mu     sync.Mutex
	token  string // this incarnation's registration; a new one after a fence
	epoch  string // the registry's epoch; a change means Redis lost its data
	fenced bool

	lastRenew time.Time // when the last successful renewal was sent
	peers     map[string]peer
}

// peer is what this node last saw of another node: its incarnation, and
// the local time its lease runs out.
type peer struct {
	token string
	until time.Time
}

func newLease(c *Cluster) *lease {
	return &lease{c: c, token: hex16(), peers: make(map[string]peer)}
}

func hex16() string { return strconv.FormatUint(randUint64(), 16) }

// current returns the token to act under, or false while fenced.
func (l *lease) current() (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.token, !l.fenced
}

func (l *lease) ms() int64 { return l.c.cfg.Lease.Milliseconds() }

// register adds the node to the registry under token.
func (l *lease) register(ctx context.Context, token string) error {
	n := l.c.names
	sent := time.Now()
	keys := []string{n.registry(), n.incarnations(), n.epoch(), n.nicks(), n.owned(l.c.id), n.left(l.c.id)}
	epoch, err := registerScript.Run(ctx, l.c.client, keys, l.c.id, token, l.ms(), hex16()).Text()
	if errors.Is(err, redis.Nil) {
		return ErrNodeIDInUse
	}
	if err != nil {
		return fmt.Errorf("cluster: register: %w", err)
	}
	l.mu.Lock()
	l.token, l.epoch, l.fenced = token, epoch, false
	l.mu.Unlock()
	l.lastRenew = sent
	return nil
}

// run renews the lease and sweeps the registry until ctx ends.
func (l *lease) run(ctx context.Context) {
	t := time.NewTicker(l.c.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.tick(ctx)
		}
	}
}

// tick renews the lease, or re-registers after a fence or a reset, then
// sweeps. The local guard: a node that could not renew for a whole lease
// must assume its peers declared it dead, so it reports itself fenced
// without waiting to hear it from Redis. The clock starts when a renewal
// is sent, before Redis stamps it, so the node gives up no later than
// its peers do.
func (l *lease) tick(ctx context.Context) {
	if _, ok := l.current(); !ok {
		l.rejoin(ctx, hex16())
		return
	}
	tctx, cancel := context.WithTimeout(ctx, l.c.cfg.Lease/3)
	defer cancel()
	sent := time.Now()
	res, err := l.renew(tctx)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			l.c.log.Warn("cluster: lease renewal failed", "err", err)
		}
	case res == renewFenced:
		l.fence(FenceLeaseLost)
		l.rejoin(ctx, hex16())
	case res == renewReset:
		l.c.stats.resets.Add(1)
		l.c.log.Warn("cluster: Redis lost the registry; registering again")
		token, _ := l.current()
		l.rejoin(ctx, token)
	default:
		l.c.stats.leaseRenewals.Add(1)
		l.lastRenew = sent
		l.sweep(tctx)
		return
	}
	if ctx.Err() == nil && time.Since(l.lastRenew) > l.c.cfg.Lease {
		l.fence(FenceUnreachable)
	}
}

func (l *lease) renew(ctx context.Context) (int, error) {
	n := l.c.names
	l.mu.Lock()
	token, epoch := l.token, l.epoch
	l.mu.Unlock()
	keys := []string{n.registry(), n.incarnations(), n.epoch()}
	return renewScript.Run(ctx, l.c.client, keys, l.c.id, token, l.ms(), epoch).Int()
}

// fence marks the node fenced, forgets its peers (the server drops their
// state on Fenced) and reports it once per loss.
func (l *lease) fence(reason FenceReason) {
	l.mu.Lock()
	was := l.fenced
	l.fenced = true
	l.mu.Unlock()
	if was {
		return
	}
	l.c.stats.guardsTripped.Add(1)
	l.c.log.Warn("cluster: this node lost its lease", "reason", reason.String())
	clear(l.peers)
	if h := l.c.cfg.Hooks.Fenced; h != nil {
		h(reason)
	}
}

// rejoin registers under token and lets the server reclaim its nicks.
func (l *lease) rejoin(ctx context.Context, token string) {
	if err := l.register(ctx, token); err != nil {
		if ctx.Err() == nil {
			l.c.log.Warn("cluster: re-register failed", "err", err)
		}
		return
	}
	l.c.log.Info("cluster: registered again")
	if h := l.c.cfg.Hooks.Reclaim; h != nil {
		h(ctx)
	}
	l.sweep(ctx)
}

// sweep reaps peers whose lease ran out and reports the changes since the
// last sweep.
func (l *lease) sweep(ctx context.Context) {
	n := l.c.names
	res, err := viewScript.Run(ctx, l.c.client, []string{n.registry(), n.incarnations()}).Slice()
	if err != nil || len(res) != 3 {
		l.c.log.Warn("cluster: sweep failed", "err", err)
		return
	}
	live := parseLive(time.Now(), res[0], res[1])
	for _, d := range res[2].([]any) {
		id, _ := d.(string)
		keys := []string{n.registry(), n.incarnations(), n.nicks(), n.owned(id)}
		if err := reapScript.Run(ctx, l.c.client, keys, id).Err(); err != nil {
			l.c.log.Warn("cluster: reap failed", "err", err)
		}
	}
	delete(live, l.c.id)
	l.diff(ctx, live)
}

// parseLive turns viewScript's (id, token, deadline) triples into peers
// whose deadline is on the local clock: Redis time only ever enters as a
// difference, so clock skew between hosts does not matter.
func parseLive(now time.Time, redisNow, triples any) map[string]peer {
	rnow, _ := redisNow.(int64)
	flat, _ := triples.([]any)
	live := make(map[string]peer, len(flat)/3)
	for i := 0; i+2 < len(flat); i += 3 {
		id, _ := flat[i].(string)
		token, _ := flat[i+1].(string)
		dl, _ := strconv.ParseFloat(fmt.Sprint(flat[i+2]), 64)
		live[id] = peer{token, now.Add(time.Duration(int64(dl)-rnow) * time.Millisecond)}
	}
	return live
}

// diff compares live with the peers seen before and reports who came and
// went. A peer missing from the registry is only reported gone once its
// lease ran out on our clock or it left cleanly: after a Redis restart
// the registry is briefly empty, and its nodes come back within a lease.
func (l *lease) diff(ctx context.Context, live map[string]peer) {
	for _, id := range slices.Sorted(maps.Keys(live)) {
		p := live[id]
		old, known := l.peers[id]
		if known && old.token != p.token {
			l.down(id, DownReplaced)
		}
		if !known || old.token != p.token {
			l.c.stats.nodesSeen.Add(1)
			if h := l.c.cfg.Hooks.NodeUp; h != nil {
				h(id)
			}
		}
		l.peers[id] = p
	}
	var missing []string
	for id := range l.peers {
		if _, ok := live[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return
	}
	slices.Sort(missing)
	left := l.leftTokens(ctx, missing)
	for i, id := range missing {
		switch p := l.peers[id]; {
		case left[i] == p.token:
			l.down(id, DownLeft)
		case time.Now().After(p.until):
			l.down(id, DownExpired)
		}
	}
}

// leftTokens reads the markers Leave sets, one per id ("" if none).
func (l *lease) leftTokens(ctx context.Context, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i], _ = l.c.client.Get(ctx, l.c.names.left(id)).Result()
	}
	return out
}

func (l *lease) down(id string, reason DownReason) {
	delete(l.peers, id)
	if h := l.c.cfg.Hooks.NodeDown; h != nil {
		h(id, reason)
	}
}

// Nodes lists the ids of the nodes whose lease is live, this one included.
func (c *Cluster) Nodes(ctx context.Context) ([]string, error) {
	n := c.names
	res, err := viewScript.Run(ctx, c.client, []string{n.registry(), n.incarnations()}).Slice()
	if err != nil || len(res) != 3 {
		return nil, fmt.Errorf("cluster: nodes: %w", err)
	}
	live := parseLive(time.Now(), res[0], res[1])
	return slices.Sorted(maps.Keys(live)), nil
}

// leave deregisters the node, freeing its nicks.
func (l *lease) leave(ctx context.Context) error {
	n := l.c.names
	token, _ := l.current()
	keys := []string{n.registry(), n.incarnations(), n.nicks(), n.owned(l.c.id), n.left(l.c.id)}
	if err := leaveScript.Run(ctx, l.c.client, keys, l.c.id, token, 3*l.ms()).Err(); err != nil {
		return fmt.Errorf("cluster: leave: %w", err)
	}
	return nil
}
