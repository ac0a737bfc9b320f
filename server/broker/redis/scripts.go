package redis

import goredis "github.com/redis/go-redis/v9"

// Redis keys. The first three are the reference app's (REFERENCE-WIRE.md);
// the chatd: ones are ours and ignored by reference nodes.
const (
	prefixRoomChannel = "room:"         // Pub/Sub channel of a room
	prefixRoomInfo    = "room_info:"    // hash {id, name, createdAt}
	prefixRoomMembers = "room_members:" // set of userIds
	prefixUserData    = "user_data:"    // user_data:<roomId>:<userId> hash {username, joinedAt}

	prefixRoomUsers = "chatd:room_users:" // hash userId -> number of nodes that have the user in the room

	keyRooms = "chatd:rooms" // set: index of room ids (ours, plus reference rooms found by SCAN)
	keyNodes = "chatd:nodes" // set: ids of nodes that may have members
)

func roomChannel(room string) string { return prefixRoomChannel + room }

// nodeAliveKey is a node's heartbeat: it exists while the node lives.
func nodeAliveKey(node string) string { return "chatd:node:" + node + ":alive" }

// nodeMembersKey is a node's member list: a hash "<roomId>\n<userId>" ->
// username. Room ids cannot hold control characters (validate.go), so the
// newline separates unambiguously.
func nodeMembersKey(node string) string { return "chatd:node:" + node + ":members" }

// nodeReapedKey is set when survivors reaped the node's members while it was
// cut off: on return the node re-announces them.
func nodeReapedKey(node string) string { return "chatd:node:" + node + ":reaped" }

// luaLeave removes one user's registration by a node (nodeKey) from a room:
// the user stops being a member once no node has it there any more (reference
// users, who are on no node of ours, at once), and the room is deleted when
// it empties, as the reference app does. It returns the count after, and
// whether the user stopped being a member.
const luaLeave = `
local function leave(room, uid, nodeKey)
  local mk = 'room_members:' .. room
  local uk = 'chatd:room_users:' .. room
  local last = true
  if nodeKey and redis.call('HDEL', nodeKey, room .. '\n' .. uid) == 1 then
    if redis.call('HINCRBY', uk, uid, -1) > 0 then
      last = false
    else
      redis.call('HDEL', uk, uid)
    end
  elseif tonumber(redis.call('HGET', uk, uid) or '0') > 0 then
    last = false
  end
  local removed = 0
  if last then
    removed = redis.call('SREM', mk, uid)
    redis.call('DEL', 'user_data:' .. room .. ':' .. uid)
  end
  local n = redis.call('SCARD', mk)
  if n == 0 then
    redis.call('DEL', 'room_info:' .. room, mk, uk)
    redis.call('SREM', 'chatd:rooms', room)
  end
  return n, removed
end
`

// scriptJoin records a user on a node in a room; the user is a member from
// its first node on (chatd:room_users:<roomId> counts the nodes that have
// it). KEYS: node members hash. ARGV: roomId, userId, username, room name
// (if new), createdAt (if new), joinedAt, node id. Returns {count, added,
// name, createdAt}: added is 1 when the user became a member.
var scriptJoin = goredis.NewScript(`
local room, uid = ARGV[1], ARGV[2]
local ik = 'room_info:' .. room
if redis.call('EXISTS', ik) == 0 then
  redis.call('HSET', ik, 'id', room, 'name', ARGV[4], 'createdAt', ARGV[5])
end
local mk = 'room_members:' .. room
if redis.call('HSET', KEYS[1], room .. '\n' .. uid, ARGV[3]) == 1 then
  redis.call('HINCRBY', 'chatd:room_users:' .. room, uid, 1)
end
local added = redis.call('SADD', mk, uid)
redis.call('HSET', 'user_data:' .. room .. ':' .. uid, 'username', ARGV[3], 'joinedAt', ARGV[6])
redis.call('SADD', 'chatd:rooms', room)
redis.call('SADD', 'chatd:nodes', ARGV[7])
local info = redis.call('HMGET', ik, 'name', 'createdAt')
return {redis.call('SCARD', mk), added, info[1] or '', info[2] or ''}
`)

// scriptLeave removes a member. KEYS: node members hash. ARGV: roomId,
// userId. Returns {count, removed}.
var scriptLeave = goredis.NewScript(luaLeave + `
local n, removed = leave(ARGV[1], ARGV[2], KEYS[1])
return {n, removed}
`)

// scriptReap removes up to ARGV[2] members of a dead node, in one atomic
// step per chunk: whichever survivor runs it, each member is removed exactly
// once, and only that survivor learns of it (and announces the leave, see
// Broker.reap). KEYS: the dead node's heartbeat, member hash, reaped marker.
// ARGV: dead node id, chunk size, marker TTL in seconds. Returns -1 if the
// node is alive, else {scanned, finished, removed}: finished once the node is
// forgotten (else call again); removed lists room, userId, username and the
// room's count after, four entries per removed member.
var scriptReap = goredis.NewScript(luaLeave + `
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local kv = redis.call('HSCAN', KEYS[2], 0, 'COUNT', ARGV[2])[2]
local done = 0
local out = {}
for i = 1, #kv, 2 do
  local f, uname = kv[i], kv[i + 1]
  local sep = string.find(f, '\n', 1, true)
  if sep then
    local room, uid = string.sub(f, 1, sep - 1), string.sub(f, sep + 1)
    local n, removed = leave(room, uid, KEYS[2])
    if removed == 1 then
      out[#out + 1] = room
      out[#out + 1] = uid
      out[#out + 1] = uname
      out[#out + 1] = n
    end
  else
    redis.call('HDEL', KEYS[2], f)
  end
  done = done + 1
end
if done > 0 then redis.call('SET', KEYS[3], '1', 'EX', ARGV[3]) end
if redis.call('HLEN', KEYS[2]) == 0 then
  redis.call('SREM', 'chatd:nodes', ARGV[1])
  return {done, 1, out}
end
return {done, 0, out}
`)

// scriptHeartbeat refreshes the node's heartbeat. KEYS: heartbeat, reaped
// marker. ARGV: value, TTL in ms, node id. Returns 1 if the node was reaped
// while it was away.
var scriptHeartbeat = goredis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', 'chatd:nodes', ARGV[3])
return redis.call('EXISTS', KEYS[2])
`)

// scriptPrune drops a room id from the index unless the room has members.
// KEYS: room_members, index. ARGV: roomId.
var scriptPrune = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
  return 1
end
return 0
`)
