package cluster

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
)

// ErrBadKey is returned for a key or node id that is empty, too long, or
// holds a brace (which would change the Redis Cluster hash tag).
var ErrBadKey = errors.New("cluster: bad key")

// maxKeyLen bounds caller keys and node ids; keyed hashes are far shorter.
const maxKeyLen = 128

// buckets is how many hash tags the per-channel and per-node shard
// channels spread over. In a Redis Cluster one SSUBSCRIBE may only name
// channels of one slot, and go-redis resubscribes a PubSub's channels with
// one command after a reconnect, so a node needs one subscription
// connection per slot it listens on. Tagging each channel with one of a
// fixed number of buckets bounds those connections, while the buckets
// still spread the traffic over the cluster's masters.
const buckets = 64

// checkKey rejects keys that would break the key layout.
func checkKey(k string) error {
	if k == "" || len(k) > maxKeyLen || strings.ContainsAny(k, "{}") {
		return fmt.Errorf("%w: %d bytes", ErrBadKey, len(k))
	}
	return nil
}

// bucket maps a key to the hash tag of its shard channel.
func bucket(k string) int {
	h := fnv.New32a()
	h.Write([]byte(k))
	return int(h.Sum32() % buckets)
}

// names builds every Redis key and shard channel name from the prefix and
// the caller's opaque keys, so nothing else in the package spells a name.
// The registry, the nick table and the per-node sets share the hash tag
// {cl}: the lease check and the nick change they guard run in one Lua
// script, which Redis Cluster allows only within one slot.
type names struct{ prefix string }

func (n names) registry() string        { return n.prefix + "{cl}:nodes" }
func (n names) incarnations() string    { return n.prefix + "{cl}:inc" }
func (n names) epoch() string           { return n.prefix + "{cl}:epoch" }
func (n names) nicks() string           { return n.prefix + "{cl}:nicks" }
func (n names) owned(id string) string  { return n.prefix + "{cl}:owned:" + id }
func (n names) left(id string) string   { return n.prefix + "{cl}:left:" + id }
func (n names) channel(k string) string { return fmt.Sprintf("%s{b%d}:ch:%s", n.prefix, bucket(k), k) }
func (n names) node(id string) string {
	return fmt.Sprintf("%s{b%d}:node:%s", n.prefix, bucket(id), id)
}
