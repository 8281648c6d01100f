package store

import (
	"context"
	"strconv"
	"time"
)

// deleteScript removes the entries ARGV[2..] from the stream KEYS[1] and
// keeps its targets index KEYS[2] in step in the same atomic step: if the
// stream is left empty it is deleted and its key (ARGV[1]) leaves the set,
// else the key's score becomes the newest entry left, as Append sets it.
// Deleting an empty stream also resets its last ID, so later appends are
// not refused for lying below an entry that is gone.
const deleteScript = `
local n = redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
if n == 0 then return 0 end
if redis.call('XLEN', KEYS[1]) == 0 then
	redis.call('DEL', KEYS[1])
	redis.call('ZREM', KEYS[2], ARGV[1])
else
	local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1][1]
	redis.call('ZADD', KEYS[2], tonumber(string.match(top, '^%d+')), ARGV[1])
end
return n`

// Delete removes key's records with ID ref.ID positioned from ref.Time's
// millisecond on. It finds their entry IDs with paged XRANGEs from that
// millisecond (a redacted message is usually recent, so the first page
// holds it), then deletes them with deleteScript.
func (r *Redis) Delete(ctx context.Context, key string, ref Ref) error {
	stream := r.names.stream(key)
	entryIDs, err := r.findEntries(ctx, stream, max(ref.Time.UnixMilli(), 0), ref.ID)
	if err != nil {
		return err
	}
	if len(entryIDs) == 0 {
		return ErrNotFound
	}
	args := append([]any{key}, entryIDs...)
	start := time.Now()
	n, err := r.client.Eval(ctx, deleteScript, []string{stream, r.names.index(key)}, args...).Int()
	r.timed("delete", start)
	if err != nil {
		return wrapErr("delete", err)
	}
	if n == 0 {
		return ErrNotFound // deleted meanwhile by someone else
	}
	return nil
}

// findEntries returns the IDs of the entries of stream positioned from
// millisecond from on whose record ID is id.
func (r *Redis) findEntries(ctx context.Context, stream string, from int64, id string) ([]any, error) {
	var out []any
	near := strconv.FormatInt(from, 10) + "-0"
	for {
		msgs, err := r.page(ctx, stream, near, "+", pageMax, false)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if got, _ := m.Values[fieldID].(string); got == id {
				out = append(out, m.ID)
			}
		}
		if len(msgs) < pageMax {
			return out, nil
		}
		near = "(" + msgs[len(msgs)-1].ID
	}
}
