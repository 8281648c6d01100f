// Package cluster is the Redis side of running several securechatd nodes
// as one server (issue 14): node membership with leases, cluster-wide
// nick ownership, and fan-out of sealed messages between nodes. It knows
// nothing of IRC: keys are opaque keyed hashes the server computes (the
// history package's Key), payloads are sealed by a Sealer the server
// backs with its vault, and events reach the server through Hooks. It
// works on one redis-server (7 or later, for sharded pub/sub) and on a
// Redis Cluster, through a RESP2 go-redis client.
//
// Membership. Join registers the node in a sorted set, node id -> lease
// deadline by the Redis clock, with an incarnation token per
// registration. A goroutine renews the lease every Lease/3 and sweeps the
// set: it frees the nicks of nodes whose deadline passed and reports
// peers that came (NodeUp) and went (NodeDown: lease expired, clean
// Leave, or replaced by a new incarnation). A crashed node is reported at
// most Lease plus one sweep interval after its last renewal. A node that
// finds its own registration gone or expired, or cannot renew for a whole
// lease, reports Fenced (the split-brain guard), refuses nick claims,
// registers again as a new incarnation and calls Reclaim. When Redis
// lost everything (an epoch key tells), nodes register again under the
// same incarnation, so a Redis restart shorter than a lease drops nobody.
//
// Nicks. One hash, nick key -> node id, plus a set per node, live beside
// the registry under one hash tag, so a claim checks the claimer's lease
// and takes the nick in one Lua script: two nodes claiming at once get
// exactly one winner, and a fenced node wins nothing. RenameNick moves a
// nick in one step; a dead node's nicks go with its lease.
//
// Fan-out. Every channel key and every node has a shard channel (SPUBLISH,
// SSUBSCRIBE). Subscribe and Unsubscribe are reference-counted, so a node
// receives only the channels it has local members for. Publish and
// SendNode seal the payload and queue it; one goroutine sends the queue
// in pipelines, so a slow Redis never blocks the caller and each key's
// messages leave in call order. An envelope carries the origin node, its
// incarnation and a sequence number per shard channel: receivers drop
// their own echoes and count gaps and repeats (see Stats). The sealed
// payload's associated data is the envelope header and the target key.
//
// Key layout (prefix "sc:" by default): the registry, incarnations,
// epoch, nicks and per-node sets under the tag {cl}; shard channels under
// one of 64 bucket tags, {bN}:ch:<key> and {bN}:node:<id>, which bounds
// the subscription connections a node needs on a Redis Cluster (one per
// bucket) while spreading traffic over its masters. No name, nick or text
// appears in any key, value or message.
//
// The server's side is ircd/link.go: it claims nicks on registration and
// NICK, subscribes a channel key for each local member, publishes each
// channel message once with its msgid and time (the sender's node alone
// writes history), keeps other nodes' users from their events, routes
// private messages and KILL with SendNode, drains by Leave, and exports
// Stats as metrics. Not done here: following slots that migrate between
// masters (a subscription stays on the master it was opened on).
package cluster
