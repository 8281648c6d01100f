package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Nick ownership lives in one hash, nick key -> node id, with a set per
// node of the keys it holds, all under the registry's hash tag. A claim
// checks the claimer's lease in the same script, so a fenced node cannot
// take a nick; and the node that notices an expired lease frees the dead
// node's nicks in one script (see reapScript). This was chosen over one
// key per nick whose TTL each renewal refreshes: that costs a write per
// nick every Lease/3 and leaves nicks alive for a whole TTL after a clean
// Leave, and the lease check could not run atomically with the claim
// across slots. Nick changes are rare next to messages, so one slot for
// them is not a bottleneck.

// ClaimNick gives the nick key to this node if no other node holds it. It
// is atomic across nodes and idempotent for this node (the server keeps
// nicks unique among its own clients). It returns ErrFenced while the node
// holds no lease.
func (c *Cluster) ClaimNick(ctx context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	return c.runClaim(ctx, claimScript, key)
}

// RenameNick moves this node's nick from oldKey to newKey in one step; if
// another node holds newKey nothing changes and it returns false.
func (c *Cluster) RenameNick(ctx context.Context, oldKey, newKey string) (bool, error) {
	if err := errors.Join(checkKey(oldKey), checkKey(newKey)); err != nil {
		return false, err
	}
	return c.runClaim(ctx, renameScript, oldKey, newKey)
}

func (c *Cluster) runClaim(ctx context.Context, s *redis.Script, args ...string) (bool, error) {
	if c.closed.Load() {
		return false, ErrClosed
	}
	token, ok := c.lease.current()
	if !ok {
		return false, ErrFenced
	}
	n := c.names
	keys := []string{n.registry(), n.incarnations(), n.nicks(), n.owned(c.id)}
	argv := []any{c.id, token}
	for _, a := range args {
		argv = append(argv, a)
	}
	res, err := s.Run(ctx, c.client, keys, argv...).Int()
	switch {
	case err != nil:
		return false, fmt.Errorf("cluster: nick: %w", err)
	case res == claimFenced:
		return false, ErrFenced
	}
	return res == claimOK, nil
}

// ReleaseNick frees the nick key if this node holds it.
func (c *Cluster) ReleaseNick(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	n := c.names
	err := releaseScript.Run(ctx, c.client, []string{n.nicks(), n.owned(c.id)}, c.id, key).Err()
	if err != nil {
		return fmt.Errorf("cluster: release nick: %w", err)
	}
	return nil
}

// NickOwner returns the live node holding the nick key, or "" if none.
func (c *Cluster) NickOwner(ctx context.Context, key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	n := c.names
	id, err := ownerScript.Run(ctx, c.client, []string{n.registry(), n.nicks()}, key).Text()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cluster: nick owner: %w", err)
	}
	return id, nil
}
