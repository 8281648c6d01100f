package ircd

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"securechat/ircd/cluster"
	"securechat/ircd/transport"
	"securechat/metrics"
)

// clusterLink is the server's membership in a cluster of nodes that act
// as one server (--cluster). Every node holds the whole namespace: the
// users of every node, as remote clients ("ghosts", see ghost.go), and
// every channel's members. State changes (users, joins, parts, kicks,
// topics, modes, invites) travel on one shard channel every node
// subscribes to, so NAMES, WHO, WHOIS, LIST, ISON and MONITOR answer from
// local memory. Channel messages travel on the channel's own shard
// channel, which only nodes with local members subscribe to, and private
// messages go to the recipient's node alone. The sender's node writes
// history once; others only deliver and keep their replay ring.
//
// On one Redis every node reads all its shard channels on one connection
// and publishes on one pipeline, so a node's events and messages arrive
// everywhere in the order it sent them. On a Redis Cluster only each
// channel's own messages keep their order against each other.
type clusterLink struct {
	s     *Server
	c     *cluster.Cluster
	id    string
	proc  string        // random per process: a restarted node's users get new uids
	ready chan struct{} // closed once c and id are set; hooks wait for it
	up    atomic.Bool   // holds its lease

	mu     sync.Mutex          // guards ghosts, peers and seen; a leaf lock
	ghosts map[string]*Client  // remote users by uid
	peers  map[string]struct{} // live nodes other than this one
	seen   map[string]struct{} // every node ever up, this process

	dropped atomic.Uint64 // events that named an unknown user or failed to decode

	// routes hold, per receive goroutine, the socket writes of a burst
	// of messages until Hooks.Flush, as a client's reader does for what
	// it relays.
	routes [cluster.Routes]routeWrites
}

// routeWrites are the writes one receive goroutine holds back: at most
// flushEvery messages, so a long burst cannot fill a member's send
// queue before it is written.
type routeWrites struct {
	pending transport.Pending
	held    int
}

// flushEvery bounds the messages a receive goroutine holds back, as a
// client's reader is bounded by what one read brings.
const flushEvery = 16

// writes returns the route's pending writes for one more message.
func (r *routeWrites) writes() *transport.Pending {
	if r.held++; r.held > flushEvery {
		r.flush()
		r.held = 1
	}
	return &r.pending
}

func (r *routeWrites) flush() {
	r.pending.Flush()
	r.held = 0
}

// stateKey is the shard channel of namespace events, which every node
// subscribes to.
const stateKey = "state"

// linkTimeout bounds each Redis call the server makes for the cluster.
const linkTimeout = 3 * time.Second

func linkContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), linkTimeout)
}

// joinCluster makes the server a node of the cluster cfg names; the
// server supplies the sealer and the hooks.
func (s *Server) joinCluster(cfg cluster.Config) error {
	l := &clusterLink{s: s, ready: make(chan struct{}), ghosts: make(map[string]*Client), peers: make(map[string]struct{}),
		seen: make(map[string]struct{}),
		proc: strconv.FormatUint(uint64(randomUint32()), 36)}
	cfg.Sealer = s.history.LinkSealer()
	cfg.Logger = s.log
	cfg.Hooks = cluster.Hooks{NodeUp: l.nodeUp, NodeDown: l.nodeDown, Fenced: l.fenced, Reclaim: l.reclaim,
		Message: l.receive, Flush: func(route int) { l.routes[route].flush() }}
	ctx, cancel := context.WithTimeout(context.Background(), 2*linkTimeout)
	defer cancel()
	c, err := cluster.Join(ctx, cfg)
	if err != nil {
		return err
	}
	l.c, l.id = c, c.ID()
	close(l.ready)
	if err := c.Subscribe(ctx, stateKey); err != nil {
		c.Stop()
		return err
	}
	l.up.Store(true)
	s.link = l
	s.metrics.SetClusterCounts(l.counts)
	l.log().Info("joined the cluster", "node", l.id)
	l.state(&event{Kind: evHello})
	return nil
}

func (l *clusterLink) log() *slog.Logger { return l.s.log }

// leave deregisters the node after its clients' quits were published.
func (l *clusterLink) leave(ctx context.Context) {
	if l == nil {
		return
	}
	if err := l.c.Leave(ctx); err != nil {
		l.log().Warn("cluster: leaving failed; the lease will run out", "err", err)
		l.c.Stop()
	}
}

// uid names a user across the cluster: its node, the node's process and
// its connection id.
func (l *clusterLink) uid(c *Client) string {
	if c.remote != nil {
		return c.remote.uid
	}
	return l.id + "/" + l.proc + "/" + strconv.FormatUint(c.id, 36)
}

// nickKey is the opaque key a nick is claimed under in Redis.
func (l *clusterLink) nickKey(folded string) string { return l.s.history.Key("nick:" + folded) }

// claimNick claims folded for this node. It answers true when Redis
// cannot be asked: the node keeps serving, and Reclaim settles clashes
// once Redis is back.
func (l *clusterLink) claimNick(folded string) bool {
	if l == nil {
		return true
	}
	ctx, cancel := linkContext()
	defer cancel()
	ok, err := l.c.ClaimNick(ctx, l.nickKey(folded))
	return l.answer(ok, err)
}

// renameNick moves this node's claim from one nick to another.
func (l *clusterLink) renameNick(from, to string) bool {
	if l == nil || from == to {
		return true
	}
	ctx, cancel := linkContext()
	defer cancel()
	ok, err := l.c.RenameNick(ctx, l.nickKey(from), l.nickKey(to))
	return l.answer(ok, err)
}

func (l *clusterLink) answer(ok bool, err error) bool {
	if err != nil {
		if !errors.Is(err, cluster.ErrFenced) {
			l.log().Warn("cluster: nick claim not checked", "err", err)
		}
		return true
	}
	return ok
}

// releaseNick frees folded in Redis.
func (l *clusterLink) releaseNick(folded string) {
	ctx, cancel := linkContext()
	defer cancel()
	if err := l.c.ReleaseNick(ctx, l.nickKey(folded)); err != nil {
		l.log().Warn("cluster: nick not released; it goes with the lease", "err", err)
	}
}

// subscribe makes the node receive ch's messages for one more local
// member; unsubscribe undoes it.
func (l *clusterLink) subscribe(c *Client, ch *Channel) {
	if l.local(c) {
		l.interest(ch, l.c.Subscribe, "cluster: channel subscription pending")
	}
}

func (l *clusterLink) unsubscribe(c *Client, ch *Channel) {
	if l.local(c) {
		l.interest(ch, l.c.Unsubscribe, "cluster: channel unsubscribe failed")
	}
}

// interest runs Subscribe or Unsubscribe for ch's key.
func (l *clusterLink) interest(ch *Channel, f func(context.Context, string) error, failed string) {
	ctx, cancel := linkContext()
	defer cancel()
	if err := f(ctx, l.s.channelKey(ch)); err != nil {
		l.log().Warn(failed, "err", err)
	}
}

// state publishes a namespace event to every node.
func (l *clusterLink) state(ev *event) { l.publish(stateKey, ev) }

// publish sends ev to the nodes subscribed to key.
func (l *clusterLink) publish(key string, ev *event) { l.send(l.c.Publish, key, ev) }

// toNode sends ev to one node.
func (l *clusterLink) toNode(node string, ev *event) { l.send(l.c.SendNode, node, ev) }

// send encodes ev and hands it to Publish or SendNode; Redis is not
// waited for, and what cannot be queued is logged.
func (l *clusterLink) send(f func(string, []byte) error, to string, ev *event) {
	b, err := json.Marshal(ev)
	if err == nil {
		err = f(to, b)
	}
	if err != nil {
		l.log().Warn("cluster: event not sent", "kind", ev.Kind, "err", err)
	}
}

// nodes counts the live nodes, this one included.
func (l *clusterLink) nodes() int {
	if l == nil {
		return 1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return 1 + len(l.peers)
}

// remoteUsers counts the users of other nodes.
func (l *clusterLink) remoteUsers() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ghosts)
}

// nodeIDs lists the live nodes, this one included, sorted; none without
// a cluster.
func (l *clusterLink) nodeIDs() []string {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	out := []string{l.id}
	for id := range l.peers {
		out = append(out, id)
	}
	l.mu.Unlock()
	slices.Sort(out)
	return out
}

// nodeUp records a node. One seen before (its new process, or back
// after a partition) is asked for its users: a node restarted under its
// id may have announced them before this node's sweep saw the old
// process go and dropped its users, new ones included. A node seen for
// the first time sent its hello when it joined, or got this node's.
func (l *clusterLink) nodeUp(id string) {
	<-l.ready
	l.mu.Lock()
	l.peers[id] = struct{}{}
	_, again := l.seen[id]
	l.seen[id] = struct{}{}
	l.mu.Unlock()
	if again {
		l.toNode(id, &event{Kind: evHello})
	}
}

// nodeDown drops a dead or departed node's users, with a reason their
// channels see in the QUIT.
func (l *clusterLink) nodeDown(id string, reason cluster.DownReason) {
	<-l.ready
	l.mu.Lock()
	delete(l.peers, id)
	l.mu.Unlock()
	text := "Server node lost"
	if reason == cluster.DownLeft {
		text = "Server node left"
	}
	l.dropGhosts(func(g *Client) bool { return g.remote.node == id }, text)
}

// fenced drops every remote user: this node's view of the others is void
// until it has registered again and heard from them.
func (l *clusterLink) fenced(cluster.FenceReason) {
	<-l.ready
	l.up.Store(false)
	l.mu.Lock()
	clear(l.peers)
	l.mu.Unlock()
	l.dropGhosts(func(*Client) bool { return true }, "Server node lost")
}

// reclaim runs once the node holds a lease again: it claims its users'
// nicks again, renames those another node took meanwhile, and asks the
// others for their users while telling them of its own.
func (l *clusterLink) reclaim(ctx context.Context) {
	<-l.ready
	s := l.s
	// Redis may have come back empty: the keyring goes back first, so a
	// node that starts now joins this room rather than making another.
	if err := s.Maintain(ctx); err != nil {
		s.log.Warn("maintenance after the cluster's reset failed, will retry", "err", err)
	}
	for _, c := range s.localClients() {
		ok, err := l.c.ClaimNick(ctx, l.nickKey(c.foldedNick()))
		if err == nil && !ok {
			s.renameToGuest(c, "Another node took your nick while this one was cut off")
		}
	}
	l.up.Store(true)
	l.state(&event{Kind: evHello})
	for _, c := range s.localClients() {
		l.state(l.burstOf(c))
	}
}

// observeLag records how long a message took from its node to this one.
// Clocks of two hosts differ a little; a message from a fast clock reads
// as no lag rather than a negative one.
func (s *Server) observeLag(at time.Time) {
	s.metrics.ClusterLag.Observe(max(time.Since(at), 0).Seconds())
}

// counts is the cluster's state for the metrics, read at scrape time.
func (l *clusterLink) counts() metrics.ClusterCounts {
	st := l.c.Stats()
	return metrics.ClusterCounts{
		Node: l.id, Up: l.up.Load(), Nodes: l.nodes(),
		LeaseRenewals: st.LeaseRenewals, GuardsTripped: st.GuardsTripped, Resets: st.Resets,
		Published: st.Published, PublishDropped: st.PublishDropped, PublishErrors: st.PublishErrors,
		Received: st.Received, Lost: st.Lost, OutOfOrder: st.OutOfOrder, OpenFailures: st.OpenFailures,
		Resubscribes: st.Resubscribes, NotApplied: l.dropped.Load(),
	}
}
