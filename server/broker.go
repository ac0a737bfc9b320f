package server

// The Broker seam: everything a node needs from the cluster. MemoryBroker is
// the single-node implementation; RedisBroker connects nodes over Redis
// Pub/Sub and keeps room state in Redis with the reference app's keys.
//
// Calls never block the caller on the network: results come back through
// callbacks, which may run on any goroutine (or, for MemoryBroker,
// synchronously inside the call). The node moves them back onto the right
// event loop itself.

// Broker connects a node to its cluster.
type Broker interface {
	// Start begins delivering: d.Deliver is called for each event published
	// to a room this node subscribes to, in the room's one cluster-wide
	// order, from one goroutine per room at a time.
	Start(d Deliverer) error
	// Subscribe registers interest in room's events (reference-counted). done
	// runs once the subscription is confirmed: every event published after
	// that is delivered.
	Subscribe(room string, done func(error))
	// Unsubscribe drops one reference taken by Subscribe.
	Unsubscribe(room string)
	// Publish sends ev to every node subscribed to ev.Room, this one
	// included. failed, if not nil, is called if the event could not be
	// published.
	Publish(ev *Event, failed func(error))
	// Join records m as a member of m.RoomID, creating the room with name if
	// it is new, and reports the cluster-wide member count after the join.
	Join(m Member, name string, done func(count int, err error))
	// Leave removes m from its room and reports the count after the leave.
	Leave(m Member, done func(count int, err error))
	// Rooms lists every room of the cluster, sorted by creation time.
	Rooms(done func([]RoomInfo, error))
	// Healthy reports whether the cluster is reachable (for /readyz).
	Healthy() bool
	// Close releases the broker's resources.
	Close() error
}

// Deliverer receives room events for local delivery.
type Deliverer interface {
	// Deliver writes frame to the local members of room, except the
	// member whose user id is excludeUserID.
	Deliver(room string, frame []byte, excludeUserID string)
}

// Member is one user in one room.
type Member struct {
	RoomID   string
	UserID   string
	Username string
}

// Event is a room event on its way through the broker.
type Event struct {
	Room string
	// Payload is the client-visible message: *Chat or *Presence.
	Payload any
	// ExcludeUserID is the user that must not receive it (the sender, whose
	// echo was local, or the joiner); "" for none.
	ExcludeUserID string
	// Frame is Payload already encoded as a text frame, when the publisher
	// has it (a chat message's echo); a broker may deliver it as is.
	Frame []byte
}

// frame returns ev's client frame, encoding it if needed.
func (ev *Event) frame() []byte {
	if ev.Frame == nil {
		ev.Frame = frameOf(ev.Payload)
	}
	return ev.Frame
}
