// Package rooms is the node-local room registry: which connections of this
// process are in which room, and the fan-out of one pre-encoded frame to a
// room's local members.
//
// It sits between the chat server (which knows JSON and the cluster) and the
// transport (which knows connections and event loops), and knows neither
// JSON nor Redis. Rooms live in shards, each with its own lock, keyed by a
// hash of the room id. Within a room, members are kept per event loop, and a
// loop's list is only ever changed on that loop: the fan-out task that runs
// on a loop reads its list without a lock, and joins and leaves on different
// loops never contend. A room with no local members is removed.
//
// A connection's rooms are a Set (an array of 16-byte refs that the caller
// keeps in its per-connection state); each ref holds the connection's slot
// in the room's list, so that a room needs one member index only: its list
// of connections, which a leave fills by moving the last member into the
// leaver's slot and updating that member's ref.
package rooms
