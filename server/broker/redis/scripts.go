package redis

import goredis "github.com/redis/go-redis/v9"

// Lua scripts of the room state (state.go, liveness.go, reap.go, rooms.go).
//
// Every key a script touches comes in KEYS, so that in Redis Cluster the
// keys of one call share a slot: a room's keys and the calling node's
// registration hash for that room's slot (keys.go). The cluster-wide sets
// (the room index, the node list) live in other slots: in single mode the
// scripts update them too (optional trailing KEYS, as before), in cluster
// mode the broker updates them with separate commands (state.go, rooms.go).

// srcJoin records a user on a node in a room; the user is a member from its
// first node on (chatd:room_users:<roomId> counts the nodes that have it).
// KEYS: the node's registration hash, room_info, room_members, user_data,
// room_users, [the room index, the node list]. ARGV: roomId, userId,
// username, room name (if new), createdAt (if new), joinedAt, node id, then
// the announcement (notice.go): its payload before and after the count
// (empty: none), the largest count it is published at, the room's channel,
// PUBLISH or SPUBLISH. Returns {count, added, name, createdAt, told}: added
// is 1 when the user became a member, told when the script published the
// announcement.
const srcJoin = `
local room, uid = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'id', room, 'name', ARGV[4], 'createdAt', ARGV[5])
end
if redis.call('HSET', KEYS[1], room .. '\n' .. uid, ARGV[3]) == 1 then
  redis.call('HINCRBY', KEYS[5], uid, 1)
end
local added = redis.call('SADD', KEYS[3], uid)
redis.call('HSET', KEYS[4], 'username', ARGV[3], 'joinedAt', ARGV[6])
if KEYS[6] then redis.call('SADD', KEYS[6], room) end
if KEYS[7] then redis.call('SADD', KEYS[7], ARGV[7]) end
local info = redis.call('HMGET', KEYS[2], 'name', 'createdAt')
local n, told = redis.call('SCARD', KEYS[3]), 0
if added == 1 and ARGV[8] ~= '' and n <= tonumber(ARGV[10]) then
  redis.call(ARGV[12], ARGV[11], ARGV[8] .. n .. ARGV[9])
  told = 1
end
return {n, added, info[1] or '', info[2] or '', told}
`

// srcLeave removes one user's registration by a node from a room: the user
// stops being a member once no node has it there any more (reference users,
// who are on no node of ours, at once), and the room is deleted when it
// empties, as the reference app does. KEYS: the node's registration hash,
// room_info, room_members, user_data, room_users, [the room index]. ARGV:
// roomId, userId, "1" when only the registration is to be removed (a
// reaper: if another reaper removed it first, nothing happens), then the
// announcement as for srcJoin (the largest size is the room's before the
// leave). Returns {count, removed, hit, told}: removed is 1 when the user
// stopped being a member, hit when this call removed the node's
// registration, so that of several reapers exactly one counts and announces
// it, told when the script published the announcement.
const srcLeave = `
local room, uid = ARGV[1], ARGV[2]
local last, hit = true, 0
if redis.call('HDEL', KEYS[1], room .. '\n' .. uid) == 1 then
  hit = 1
  if redis.call('HINCRBY', KEYS[5], uid, -1) > 0 then
    last = false
  else
    redis.call('HDEL', KEYS[5], uid)
  end
elseif ARGV[3] == '1' then
  return {redis.call('SCARD', KEYS[3]), 0, 0, 0}
elseif tonumber(redis.call('HGET', KEYS[5], uid) or '0') > 0 then
  last = false
end
local removed = 0
if last then
  removed = redis.call('SREM', KEYS[3], uid)
  redis.call('DEL', KEYS[4])
end
local n = redis.call('SCARD', KEYS[3])
if n == 0 then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[5])
  if KEYS[6] then redis.call('SREM', KEYS[6], room) end
end
local told = 0
if removed == 1 and ARGV[4] ~= '' and n + 1 <= tonumber(ARGV[6]) then
  redis.call(ARGV[8], ARGV[7], ARGV[4] .. n .. ARGV[5])
  told = 1
end
return {n, removed, hit, told}
`

// The heartbeat carries no TTL: under maxmemory with a volatile-* policy
// Redis evicts keys with a TTL, and a heartbeat (whose TTL would be the
// shortest of all) must not go before the histories, which carry theirs.
// Its value is "d" and the time it lapses, in ms of the Redis clock (TIME),
// so that the nodes' clocks do not matter. A value without the "d" is a
// heartbeat of an earlier chatd (the beat's time, with a TTL): alive while
// it exists. luaAlive is the test, shared by the scripts below.
const luaAlive = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function alive(k, t)
  local v = redis.call('GET', k)
  if not v then return false end
  if string.sub(v, 1, 1) ~= 'd' then return true end
  return tonumber(string.sub(v, 2)) > t
end
`

// scriptHeartbeat refreshes the node's heartbeat. KEYS: heartbeat, reaped
// marker, [the node list]. ARGV: lifetime in ms, node id. Returns 1 if the
// node was reaped while it was away. The DEL comes first: Redis at
// maxmemory (noeviction) refuses a script's first write if it may grow
// memory, and lets a script that has written go on; so a beat, which grows
// nothing, goes through when Redis is full and the node is not taken for
// dead.
const scriptHeartbeat = luaAlive + `
local t = now()
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[1], 'd' .. string.format('%d', t + tonumber(ARGV[1])))
if KEYS[3] then redis.call('SADD', KEYS[3], ARGV[2]) end
return redis.call('EXISTS', KEYS[2])
`

// srcAlive tells which heartbeats are alive. KEYS: heartbeats. Returns 1 or
// 0 for each.
const srcAlive = luaAlive + `
local t, out = now(), {}
for i, k in ipairs(KEYS) do
  if alive(k, t) then out[i] = 1 else out[i] = 0 end
end
return out
`

// srcForget ends the reaping of a dead node, unless it came back: KEYS:
// its heartbeat (deleted: it has lapsed), its registration index (cluster:
// the slots set, deleted; single: the registration hash, which must be
// empty), [the node list, from which it is removed]. ARGV: node id. Returns
// 1 if forgotten.
const srcForget = luaAlive + `
if alive(KEYS[1], now()) then return 0 end
if KEYS[3] then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
  redis.call('SREM', KEYS[3], ARGV[1])
else
  redis.call('DEL', KEYS[2])
end
redis.call('DEL', KEYS[1])
return 1
`

// scriptPrune drops a room id from the index unless the room has members
// (single mode). KEYS: room_members, index. ARGV: roomId.
var scriptPrune = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
  return 1
end
return 0
`)
