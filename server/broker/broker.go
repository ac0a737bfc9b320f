// Package broker is the seam between a chat node and its cluster.
//
// A chat node (package server) hands room events to a Broker, which delivers
// them to every node with members in the room, this one included, in one
// order per room. The broker moves events as opaque bytes plus a small
// header (the room, the user to exclude); it knows no chat message type. It
// also keeps the cluster's room state (who is a member of which room, the
// room list) through narrow calls with the plain types of this package.
//
// Implementations live beside the seam, each in its own package:
// server/broker/memory (one node, in-process) and server/broker/redis (nodes
// sharing a Redis). cmd/chatd picks one. This package imports nothing of
// the chat, and the chat imports no broker implementation.
//
// Calls never block the caller on the network: results come back through
// callbacks, which may run on any goroutine (or, for the memory broker,
// synchronously inside the call). The chat moves them back onto the right
// event loop itself.
package broker

import "errors"

// Broker connects a node to its cluster.
type Broker interface {
	// Start begins delivering events to r: r.Receive for each event that
	// reaches this node through the cluster, r.Deliver for events delivered
	// in-process. Both are called in each room's one cluster-wide order, from
	// one goroutine per room at a time, never from an event loop.
	Start(r Receiver) error
	// Subscribe registers interest in room's events (reference-counted). done
	// runs once the subscription is confirmed: every event published after
	// that is delivered to this node.
	Subscribe(room string, done func(error))
	// Unsubscribe drops one reference taken by Subscribe.
	Unsubscribe(room string)
	// Publish sends ev to every node subscribed to ev.Room, this one
	// included. failed, if not nil, is called if the event could not be
	// published.
	Publish(ev *Event, failed func(error))
	// Join records one connection of m.User on this node in m.Room, creating
	// the room named name if it is new, and reports the membership after the
	// join. A user is one member however many connections it has in the
	// room, on however many nodes: Changed tells whether this one made the
	// user a member.
	Join(m Member, name string, done func(Membership, error))
	// Leave removes one connection of m.User on this node from m.Room (one
	// taken by Join) and reports the membership after it: Changed tells
	// whether the user left the room with it (its last connection, cluster-
	// wide).
	Leave(m Member, done func(Membership, error))
	// Members lists up to limit members of room, cluster-wide, and reports
	// the room's member count (which may exceed limit).
	Members(room string, limit int, done func(members []Member, count int, err error))
	// Rooms lists every room of the cluster that has members, oldest first
	// (by CreatedAt, then by id).
	Rooms(done func([]Room, error))
	// Healthy reports whether the cluster is reachable (for /readyz).
	Healthy() bool
	// Close releases the broker's resources.
	Close() error
}

// Receiver is the chat node as a broker sees it.
type Receiver interface {
	// Receive handles an event that reached this node through the cluster:
	// payload is the event's body with the broker's header members (see
	// Event.Body), as published. Receive decodes it once for the node and
	// delivers it to the room's local members. An error means the payload is
	// not an event at all; the broker drops it and counts it.
	Receive(room string, payload string) error
	// Deliver hands an event published on this node to the room's local
	// members without encoding or decoding it (in-process brokers).
	Deliver(ev *Event)
	// PresenceBody encodes the body of a membership announcement that a
	// broker makes on its own: a member of a dead node removed (joined false),
	// or a member announced again after its node was wrongly reaped (joined
	// true). count is the room's member count after the change.
	PresenceBody(joined bool, m Member, count int) []byte
}

// Event is one room event on its way through a broker.
type Event struct {
	// Room is the room's id.
	Room string
	// Body is the event as the cluster carries it: a JSON object. A broker
	// that serializes events adds its header members to it (for the Redis
	// broker: excludeUserId and origin, DESIGN §4) and must not change it
	// otherwise. Brokers do not keep it beyond Publish.
	Body []byte
	// Exclude is the user id that must not receive the event (the sender,
	// whose echo was local, or the joiner); "" for none. It is what reference
	// nodes act on; chatd nodes exclude by Conn.
	Exclude string
	// Conn is the publishing connection, as a number meaningful only on the
	// publishing node (0: none): that node does not deliver the event to it.
	Conn uint64
	// Local is the publisher's own form of the event (e.g. its frames
	// already encoded), handed back to Receiver.Deliver by an in-process
	// broker so that nothing is decoded. Opaque to brokers.
	Local any
}

// The header members a broker that serializes events appends to an event's
// body (the Redis broker does; DESIGN §4): the cluster wire form is the body
// plus these, and a Receiver reads them back from the payload it gets.
const (
	HeaderExclude = "excludeUserId" // Event.Exclude, when not empty
	HeaderOrigin  = "origin"        // the publishing node's id
	HeaderConn    = "originConn"    // Event.Conn, when not 0
)

// Member is one user in one room.
type Member struct {
	Room string // room id
	User string // user id
	Name string // display name
}

// Membership is a room's state after a join or a leave.
type Membership struct {
	// Count is the room's member count, cluster-wide; -1 when not known (a
	// leave that did not need the cluster: the user keeps other connections
	// in the room on this node).
	Count int
	// Changed is false when the call changed the room's members not at all:
	// the user was a member already (join), or still is or never was one
	// (leave).
	Changed bool
}

// Room is one entry of the cluster's room list.
type Room struct {
	ID        string
	Name      string
	Members   int    // cluster-wide member count
	CreatedAt string // ISO 8601 UTC with milliseconds (JavaScript's toISOString)
}

// ErrUnavailable is wrapped by broker errors that mean "the cluster cannot
// be reached", as opposed to a refusal.
var ErrUnavailable = errors.New("cluster unavailable")
