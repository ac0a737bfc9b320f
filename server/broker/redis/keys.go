package redis

import "strings"

// keyspace names the broker's keys and channels in one of two modes.
//
// Single Redis: the reference app's names (room:<id>, room_info:<id>,
// room_members:<id>, user_data:<id>:<uid>, docs/cluster.md) and ours as
// they have always been, so reference nodes share the Redis with us.
//
// Redis Cluster: every key of a room, and its channel, carry the room's hash
// tag, so that they live in one slot: each Lua script then touches one slot,
// and a stored message is SPUBLISHed by the script that stores it (a shard
// channel must be in the slot of the keys of the script that publishes it).
// The tag is the room id with '%', '{' and '}' escaped (%25, %7B, %7D): a '}'
// inside a tag would end it early, and an empty tag ("{}") would hash the
// whole key, scattering the room over slots. Reference nodes, which speak to
// one Redis with untagged names, cannot share such a cluster.
//
// A node's own keys (heartbeat, reaped marker) carry the node's tag. Its
// registrations (which members it has in which rooms, for its reaping and
// re-registration) are split by slot: the registrations in the rooms of slot
// s live in a hash tagged with slotTag(s), in the rooms' slot, so that the
// join and leave scripts update them atomically with the rooms; the tags in
// use are listed in the node's slots set. In single mode all of them are one
// hash, chatd:node:<id>:members, as before.
type keyspace struct {
	cluster bool
}

// Names shared by both modes. The first four are the reference app's.
const (
	prefixRoomChannel = "room:"         // Pub/Sub channel of a room
	prefixRoomInfo    = "room_info:"    // hash {id, name, createdAt}
	prefixRoomMembers = "room_members:" // set of userIds
	prefixUserData    = "user_data:"    // user_data:<roomId>:<userId> hash {username, joinedAt}

	prefixRoomUsers = "chatd:room_users:" // hash userId -> number of nodes that have the user in the room

	keyRooms = "chatd:rooms" // set: index of room ids (ours, plus reference rooms found by SCAN)
	keyNodes = "chatd:nodes" // set: ids of nodes that may have members
)

var (
	tagEscaper   = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")
	tagUnescaper = strings.NewReplacer("%25", "%", "%7B", "{", "%7D", "}")
)

// room returns how a room id appears in its keys: as is in single mode,
// as its hash tag in cluster mode.
func (k keyspace) room(room string) string {
	if !k.cluster {
		return room
	}
	return "{" + tagEscaper.Replace(room) + "}"
}

// roomOf reverses room: the room id of a key part (false if it is not one).
func (k keyspace) roomOf(part string) (string, bool) {
	if !k.cluster {
		return part, true
	}
	if len(part) < 3 || part[0] != '{' || part[len(part)-1] != '}' {
		return "", false
	}
	return tagUnescaper.Replace(part[1 : len(part)-1]), true
}

// roomSlot is the slot of every key of the room (-1 in single mode, where
// slots do not matter).
func (k keyspace) roomSlot(room string) int {
	if !k.cluster {
		return -1
	}
	return int(crc16(tagEscaper.Replace(room))) % numSlots
}

func (k keyspace) channel(room string) string     { return prefixRoomChannel + k.room(room) }
func (k keyspace) roomInfo(room string) string    { return prefixRoomInfo + k.room(room) }
func (k keyspace) roomMembers(room string) string { return prefixRoomMembers + k.room(room) }
func (k keyspace) roomUsers(room string) string   { return prefixRoomUsers + k.room(room) }
func (k keyspace) userData(room, uid string) string {
	return prefixUserData + k.room(room) + ":" + uid
}

// roomOfChannel returns the room of a room channel.
func (k keyspace) roomOfChannel(channel string) (string, bool) {
	part, ok := strings.CutPrefix(channel, prefixRoomChannel)
	if !ok {
		return "", false
	}
	return k.roomOf(part)
}

// meta and log are the room's history keys (history.go); they carry the
// room's hash tag in both modes. history is the stream that held a room's
// messages before the log (a version before it; DeleteHistory deletes it).
func (k keyspace) meta(room string) string    { return "chatd:" + k.historyTag(room) + ":meta" }
func (k keyspace) log(room string) string     { return "chatd:" + k.historyTag(room) + ":log" }
func (k keyspace) history(room string) string { return "chatd:" + k.historyTag(room) + ":history" }

func (k keyspace) historyTag(room string) string {
	if k.cluster {
		return k.room(room)
	}
	return "{" + room + "}"
}

// node returns how a node id appears in its keys.
func (k keyspace) node(node string) string {
	if !k.cluster {
		return node
	}
	return "{" + tagEscaper.Replace(node) + "}"
}

// nodeAlive is a node's heartbeat: it exists while the node lives.
func (k keyspace) nodeAlive(node string) string { return "chatd:node:" + k.node(node) + ":alive" }

// nodeReaped is set when survivors reaped the node's members while it was
// cut off: on return the node re-announces them.
func (k keyspace) nodeReaped(node string) string { return "chatd:node:" + k.node(node) + ":reaped" }

// nodeSlots (cluster mode) is the set of slot tags under which the node has
// registration hashes (nodeRegs).
func (k keyspace) nodeSlots(node string) string { return "chatd:node:" + k.node(node) + ":slots" }

// nodeRegs is the hash of a node's registrations in the rooms of one slot:
// "<roomId>\n<userId>" -> username. Room ids cannot hold control characters
// (validate.go), so the newline separates unambiguously. tag is the slot's
// tag (cluster mode; ignored in single mode, where one hash holds them all).
func (k keyspace) nodeRegs(node, tag string) string {
	if !k.cluster {
		return "chatd:node:" + node + ":members"
	}
	return "chatd:node:" + tagEscaper.Replace(node) + ":members:{" + tag + "}"
}

// regsTag is the tag of the registration hash for room (cluster mode).
func (k keyspace) regsTag(room string) string {
	if !k.cluster {
		return ""
	}
	return slotTag(k.roomSlot(room))
}

// nodeRegsOf is the registration hash that holds node's members of room.
func (k keyspace) nodeRegsOf(node, room string) string { return k.nodeRegs(node, k.regsTag(room)) }
