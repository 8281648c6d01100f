package cluster

import "github.com/redis/go-redis/v9"

// The registry's scripts take the time from Redis (TIME), so every node
// judges leases by one clock and skew between hosts does not matter. Each
// script names all its keys in KEYS, and all of them share the {cl} tag,
// as Redis Cluster requires.

// luaNow is the Redis server time in milliseconds.
const luaNow = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// luaReap frees every nick a node holds; a nick taken over since is left
// to its new owner.
const luaReap = `
local function reap(nicks, owned, id)
	for _, k in ipairs(redis.call('SMEMBERS', owned)) do
		if redis.call('HGET', nicks, k) == id then redis.call('HDEL', nicks, k) end
	end
	redis.call('DEL', owned)
end
`

// luaLeased tells whether the node (ARGV[1]) holds an unexpired lease
// under its incarnation token (ARGV[2]). KEYS[1] is the registry, KEYS[2]
// the incarnations.
const luaLeased = `
local function leased(now)
	local dl = redis.call('ZSCORE', KEYS[1], ARGV[1])
	return dl and tonumber(dl) > now and redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2]
end
`

// registerScript adds the node or re-registers it. A live entry under
// another token means the id is taken: it returns false. An expired entry
// of an earlier incarnation is reaped first, so its nicks are free again.
// KEYS: registry, incarnations, epoch, nicks, owned, left.
// ARGV: id, token, lease ms, a fresh epoch. Returns the current epoch.
var registerScript = redis.NewScript(luaNow + luaReap + `
redis.call('SET', KEYS[3], ARGV[4], 'NX')
local dl = redis.call('ZSCORE', KEYS[1], ARGV[1])
if dl and redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then
	if tonumber(dl) > now then return false end
	reap(KEYS[4], KEYS[5], ARGV[1])
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('DEL', KEYS[6])
return redis.call('GET', KEYS[3])`)

// Replies of renewScript.
const (
	renewOK     = 0
	renewFenced = 1 // the lease ran out or another incarnation holds the id
	renewReset  = 2 // the epoch changed: Redis lost its data
)

// renewScript extends the node's lease if it still holds it.
// KEYS: registry, incarnations, epoch. ARGV: id, token, lease ms, epoch.
var renewScript = redis.NewScript(luaNow + luaLeased + `
if redis.call('GET', KEYS[3]) ~= ARGV[4] then return 2 end
if not leased(now) then return 1 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
return 0`)

// viewScript lists the registry: the Redis time, the live nodes as
// (id, token, deadline) triples and the ids whose lease has run out.
// KEYS: registry, incarnations.
var viewScript = redis.NewScript(luaNow + `
local live = {}
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
for i = 1, #entries, 2 do
	live[#live + 1] = entries[i]
	live[#live + 1] = redis.call('HGET', KEYS[2], entries[i]) or ''
	live[#live + 1] = entries[i + 1]
end
return {now, live, redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)}`)

// reapScript removes a node whose lease has run out and frees its nicks;
// it does nothing if the node renewed meanwhile, so any node may run it.
// KEYS: registry, incarnations, nicks, owned. ARGV: id.
var reapScript = redis.NewScript(luaNow + luaReap + `
local dl = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not dl or tonumber(dl) > now then return 0 end
reap(KEYS[3], KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1`)

// leaveScript deregisters the node, frees its nicks and leaves a marker
// (the token, for ARGV[3] ms) so peers can tell a clean leave from a loss.
// KEYS: registry, incarnations, nicks, owned, left. ARGV: id, token, ms.
var leaveScript = redis.NewScript(luaReap + `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
reap(KEYS[3], KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SET', KEYS[5], ARGV[2], 'PX', ARGV[3])
return 1`)

// Replies of claimScript and renameScript.
const (
	claimFenced = -1
	claimTaken  = 0
	claimOK     = 1
)

// claimScript gives the nick key ARGV[3] to the node unless another node
// holds it; only a node with a live lease may claim.
// KEYS: registry, incarnations, nicks, owned. ARGV: id, token, key.
var claimScript = redis.NewScript(luaNow + luaLeased + `
if not leased(now) then return -1 end
local o = redis.call('HGET', KEYS[3], ARGV[3])
if o and o ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[3])
return 1`)

// renameScript moves the node's nick from ARGV[3] to ARGV[4] in one step,
// or changes nothing if another node holds ARGV[4].
// KEYS: registry, incarnations, nicks, owned. ARGV: id, token, old, new.
var renameScript = redis.NewScript(luaNow + luaLeased + `
if not leased(now) then return -1 end
local o = redis.call('HGET', KEYS[3], ARGV[4])
if o and o ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[3], ARGV[3]) == ARGV[1] then
	redis.call('HDEL', KEYS[3], ARGV[3])
	redis.call('SREM', KEYS[4], ARGV[3])
end
redis.call('HSET', KEYS[3], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[4])
return 1`)

// releaseScript frees the nick key ARGV[2] if the node ARGV[1] holds it.
// KEYS: nicks, owned.
var releaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[2])
return 1`)

// ownerScript returns the node holding the nick key ARGV[1], or nil if
// nobody does or its holder's lease has run out.
// KEYS: registry, nicks.
var ownerScript = redis.NewScript(luaNow + `
local o = redis.call('HGET', KEYS[2], ARGV[1])
if not o then return false end
local dl = redis.call('ZSCORE', KEYS[1], o)
if not dl or tonumber(dl) <= now then return false end
return o`)
