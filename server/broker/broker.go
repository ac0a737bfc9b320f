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
	// included, storing it in the room's history first when ev.Store is set.
	// done, if not nil, is called once: with the event's offset in the room's
	// history (0 when not stored), or with the error that kept it from being
	// published.
	Publish(ev *Event, done func(offset uint64, err error))
	// Sync calls fn in the room's delivery order on this node: every stored
	// event up to res.Offset has been handed to the Receiver before fn runs,
	// and every later one is handed to it after fn returns. res also holds the
	// stored messages q asks for, up to res.Offset. A joiner added to the
	// room's local members inside fn misses nothing and gets nothing twice.
	// The room must be subscribed. fn must not block: it runs on the
	// broker's delivery path.
	//
	// res.Epoch always names the room's epoch (unless the broker keeps no
	// history), also when the room has no stored message yet (res.Offset
	// 0): Sync then makes the epoch, and the room's first stored messages
	// carry it, from offset 1. So Since that epoch and any offset up to the
	// newest recovers. An epoch without messages is kept for the history age
	// after a Sync that found the room empty (each broker says which); if it
	// is lost before the first message (expired, a store restarted empty,
	// DeleteHistory), the next message or Sync brings another epoch, and
	// every node whose members were told the old one calls Receiver.Resync
	// first.
	Sync(room string, q HistoryQuery, fn func(res HistoryResult, err error))
	// History reads stored messages of room (for paging back; no ordering
	// with deliveries).
	History(room string, q HistoryQuery, done func(HistoryResult, error))
	// DeleteHistory deletes room's stored messages and its epoch: the next
	// one starts a new epoch at offset 1 (members that recover get
	// recovered: false; nodes whose members were told the old epoch call
	// Receiver.Resync before delivering it).
	DeleteHistory(room string, done func(error))
	// Join records one connection of m.User on this node in m.Room, creating
	// the room named name if it is new, and reports the membership after the
	// join. A user is one member however many connections it has in the
	// room, on however many nodes: Changed tells whether this one made the
	// user a member. An in-process broker announces a join that changed the
	// membership (Membership.Announced): it delivers the event
	// Receiver.Announce makes of it, and runs done, in the same step of the
	// room's order as the change, so that a member whose join came after
	// it (and counts this user already) does not get it, and what done
	// sets up comes before any later event; done then runs under the room's
	// lock and must not call the broker (it may hand work on). (The Redis
	// broker does not: the change and its announcement are not one step in
	// Redis, and the node publishes the announcement.)
	Join(m Member, name string, done func(Membership, error))
	// Leave removes one connection of m.User on this node from m.Room (one
	// taken by Join) and reports the membership after it: Changed tells
	// whether the user left the room with it (its last connection, cluster-
	// wide). An in-process broker announces a leave as a join, before done.
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
	// Resync tells the room's local members that this node cannot vouch for
	// the continuity of the room's history: a hole it could not fill (the
	// history no longer covers it) or a new epoch (the history was lost).
	Resync(room, reason string)
	// PresenceBody encodes the body of a membership announcement that a
	// broker makes on its own: a member of a dead node removed (joined false),
	// or a member announced again after its node was wrongly reaped (joined
	// true). count is the room's member count after the change.
	PresenceBody(joined bool, m Member, count int) []byte
	// Announce makes the event that announces a change a Join (joined) or
	// a Leave of m made, count being the room's member count after it; nil
	// when the change is not to be announced. An in-process broker that
	// announces changes (Membership.Announced) delivers it, never stored,
	// from its Join or Leave under the room's lock: Announce must not call
	// the broker. (The Redis broker's scripts publish AnnounceTemplate's.)
	Announce(joined bool, m Member, count int) *Event
}

// AnnounceTemplater is a Receiver that lets a broker announce a change in
// the change's own step outside this process: the Redis broker's membership
// scripts publish the announcement with the count they make, so that it
// holds its place in the room's order among the other changes.
type AnnounceTemplater interface {
	// AnnounceTemplate returns the event Announce would make for m's join
	// (joined) or leave, but for its body, which is cut where the room's
	// count goes: head, the count in decimal, tail. upTo is the largest
	// room size (after a join, before a leave) at which Announce announces
	// every change; past it the broker leaves the change to the node, which
	// announces it within its notice budget. ok false: no template (the
	// node announces).
	AnnounceTemplate(joined bool, m Member) (ev *Event, head, tail []byte, upTo int, ok bool)
}

// Event is one room event on its way through a broker.
type Event struct {
	// Room is the room's id.
	Room string
	// Body is the event as the cluster carries it: a JSON object. A broker
	// that serializes events adds its header members to it (for the Redis
	// broker: excludeUserId and origin, docs/cluster.md) and must not change it
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
	// Store makes the event part of the room's history: it gets the next
	// offset (1, 2, 3, ... with no hole within an epoch), and the offset and
	// the epoch travel with it (header members offset and epoch; an
	// in-process broker hands them to Receiver.Deliver in Delivered).
	Store bool
	// Delivered is set by an in-process broker before Receiver.Deliver: the
	// stored event's place in the history.
	Delivered Position
}

// Position is a place in a room's history: an epoch (one life of the
// history; a new epoch restarts the numbering) and an offset in it.
type Position struct {
	Epoch  string
	Offset uint64
}

// HistoryQuery asks for stored messages of a room.
type HistoryQuery struct {
	// Since asks for every stored message after it (a reconnecting client's
	// recovery). If the history no longer covers them, the newest Limit are
	// returned instead and Recovered is false.
	Since *Position
	// Before pages back: messages with offsets below it (0: from the
	// newest).
	Before uint64
	// Limit bounds the messages returned (the newest ones, unless Since
	// recovers).
	Limit int
}

// HistoryResult is what a history read found.
type HistoryResult struct {
	Position           // the room's epoch, and the newest offset covered
	Messages  []string // stored payloads (each with its header members), oldest first
	Recovered bool     // Since was given and every message after it is in Messages
}

// The header members a broker that serializes events appends to an event's
// body (the Redis broker does; docs/cluster.md): the cluster wire form is the body
// plus these, and a Receiver reads them back from the payload it gets.
const (
	HeaderExclude = "excludeUserId" // Event.Exclude, when not empty
	HeaderOrigin  = "origin"        // the publishing node's id
	HeaderConn    = "originConn"    // Event.Conn, when not 0
	HeaderOffset  = "offset"        // a stored event's offset
	HeaderEpoch   = "epoch"         // a stored event's epoch
)

// Member is one user in one room.
type Member struct {
	Room string // room id
	User string // user id
	Name string // display name
	// ID, if not nil, holds User and Name (the same two) in a record that
	// outlives the call: a broker that keeps members may keep this pointer
	// instead of the strings. Optional: a broker given none makes its own.
	ID *Identity
	// Conn, in a Join or Leave, is the connection that asked for it, as a
	// number meaningful only on this node (0: none, e.g. a disconnect): the
	// announcement of the change leaves it out (Receiver.Announce). Brokers
	// do not keep it.
	Conn uint64
}

// Identity is a user as one connection names it. A chat node keeps one per
// connection and passes it in Member.ID, so that a broker's member of a
// room costs a pointer (8 bytes) instead of two string headers (32): it is
// what a v2 connection pays per extra room (issue 22). Nobody changes an
// Identity once made: a connection that takes a new name gets a new one,
// and the rooms joined under the old name keep it.
type Identity struct {
	User string // user id
	Name string // display name
}

// Identity returns the record a broker keeps for m: m.ID when it holds
// m's user and name (the node's do, sharing their bytes: the comparison
// is short), else a new one.
func (m Member) Identity() *Identity {
	if id := m.ID; id != nil && id.User == m.User && id.Name == m.Name {
		return id
	}
	return &Identity{User: m.User, Name: m.Name}
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
	// Announced tells that the broker published the change's announcement
	// itself (Receiver.Announce's event): an in-process broker does, in the
	// step of the change. Otherwise the node announces a change it made.
	Announced bool
	// Sync, if not nil, reads the room's history at the join's place in
	// the room's order, as Broker.Sync would there: fn gets the read (or
	// its error) before any later event of the room is delivered. A broker
	// offers it to a Join's done when done runs at the join's place in the
	// room's order: an in-process broker in the join's step (fn runs before
	// Sync returns), the Redis broker where the join's own announcement
	// passes the node (fn runs later, on another goroutine, when the read
	// needed Redis). Valid during done only; fn must not call the broker.
	Sync func(q HistoryQuery, fn func(HistoryResult, error))
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

// ErrStorageFull is wrapped by broker errors that mean "the cluster's store
// refused the write: it is out of memory" (Redis at maxmemory under
// noeviction). Nothing of the refused call was stored or delivered.
var ErrStorageFull = errors.New("cluster storage full")
