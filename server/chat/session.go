package chat

import (
	"net/netip"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/rooms"
	"github.com/chatd/chatd/server/auth"
	"github.com/chatd/chatd/server/broker"
)

// Session is one connection's chat state. It lives on the connection's
// event loop: every field is touched there only (cluster answers come back
// through exec). It is 80 bytes, plus its 32-byte identity (who): memory
// per idle connection is a product target, so fields are packed and rarely
// used state lives elsewhere (a token's claims in the node's registry, a
// request queue only while one is needed).
type Session struct {
	node *Node
	c    *eventloop.Conn
	id   uint64 // the connection's number on this node (connIndex)
	// who is the user id and display name (v1: the username of the last
	// join), nil until identified. One record, never changed (a new name is
	// a new one), that the broker may keep for each room joined instead of
	// copying the two strings (broker.Identity): 8 bytes here and 32 in a
	// record of its own take the allocator's same 112 bytes as the two
	// strings in the session did.
	who   *broker.Identity
	rooms rooms.Set // the rooms joined, in the order joined (8 bytes; 16 per room)
	// queue holds requests that arrived while one was in flight (busy), so
	// that the requests of one connection are handled in the order sent: a
	// message sent right after a join is not refused because the join has
	// not finished yet. Allocated only while requests wait (8 bytes per
	// idle session, not 24).
	queue      *[][]byte
	rate       tokenBucket
	listAt     uint32 // room list requests: the GCRA's next arrival time, ms of the node clock; 0: none yet
	class      uint8  // the session's protocol: Node.protos[class]
	identified bool   // the user is known (at once for v1; after hello for v2)
	busy       bool   // a request of this session waits for the cluster
	closed     bool
	authed     bool   // the connection has a token (an entry in the node's tokenRegistry)
	guest      bool   // -auth optional without a token: only -guest-rooms
	addrKey    uint16 // the client address's bucket in the node's per-address rate limit (limits.go)
	// ipSlot is the connection's entry in the carrier's per-address count
	// (0: not counted). Last, so that it sits in the padding after the bools.
	ipSlot int32
}

// Open starts the session of a connection that just became a WebSocket (on
// its loop), for the protocol of member class class. claims, if not nil, is
// a token the carrier verified before the upgrade (Node.VerifyToken); addr
// is the client's address (as the trusted proxies tell it); ipSlot is the
// carrier's per-address count entry (0: none), given back by IPSlot when the
// connection closes; peer, if not nil, what the carrier learned of the
// connection for the connect hook (hooks.go).
func (n *Node) Open(c *eventloop.Conn, class int, claims *auth.Claims, addr netip.Addr, ipSlot int32, peer *Peer) *Session {
	s := &Session{node: n, c: c, class: uint8(class), ipSlot: ipSlot, addrKey: n.addrLimit.key(addr)}
	c.SetValue(s)
	if !c.Stream() {
		n.m.connections.Inc() // WebSockets; the transport counts event streams
	}
	s.openIdentity(claims, peer)
	n.protos[class].Open(s)
	return s
}

// Node returns the session's node.
func (s *Session) Node() *Node { return s.node }

// Conn returns the session's connection.
func (s *Session) Conn() *eventloop.Conn { return s.c }

// UserID returns the session's user id ("" before it is identified).
func (s *Session) UserID() string {
	if s.who == nil {
		return ""
	}
	return s.who.User
}

// Name returns the user's display name.
func (s *Session) Name() string {
	if s.who == nil {
		return ""
	}
	return s.who.Name
}

// SetName changes the display name (v1: each join names the user anew).
// The rooms joined under the old name keep it (the broker holds the old
// record).
func (s *Session) SetName(name string) {
	if name != s.Name() {
		s.setIdentity(s.UserID(), name)
	}
}

// setIdentity names the session's user with a new record (never by
// changing the one the broker may hold).
func (s *Session) setIdentity(user, name string) {
	s.who = &broker.Identity{User: user, Name: name}
}

// Identified reports whether the session's user is known.
func (s *Session) Identified() bool { return s.identified }

// Authed reports whether the session's user comes from a token.
func (s *Session) Authed() bool { return s.authed }

// Closed reports whether the connection is gone.
func (s *Session) Closed() bool { return s.closed }

// IPSlot returns the per-address count entry given to Open.
func (s *Session) IPSlot() int32 { return s.ipSlot }

// Receive handles a request, or queues it behind an in-flight one.
func (s *Session) Receive(p []byte) {
	s.node.m.messagesIn.Inc()
	if s.busy {
		if s.queue == nil {
			s.queue = new([][]byte)
		}
		if len(*s.queue) >= s.node.cfg.MaxQueuedRequests {
			s.node.protos[s.class].Refuse(s, p, ErrQueueFull)
			return
		}
		*s.queue = append(*s.queue, append([]byte(nil), p...))
		return
	}
	s.node.protos[s.class].Handle(s, p)
}

// resume ends the in-flight request and handles what queued behind it,
// until the queue is empty or a request waits for the cluster again.
func (s *Session) resume() {
	s.busy = false
	for !s.busy && !s.closed && s.queue != nil && len(*s.queue) > 0 {
		q := *s.queue
		p := q[0]
		q[0] = nil
		*s.queue = q[1:]
		s.node.protos[s.class].Handle(s, p)
	}
	if s.queue != nil && len(*s.queue) == 0 {
		s.queue = nil
	}
}

// Await marks the session busy with a request that waits for the cluster:
// later requests queue until it is answered. The returned function is
// called once, from any goroutine, with the answer: it runs answer on the
// session's loop, unless the connection closed meanwhile, then handles what
// queued (unless answer itself waits for the cluster again: a leave
// followed by a join).
func (s *Session) Await() func(answer func()) {
	s.busy = true
	return func(answer func()) {
		s.exec(func() {
			if s.closed {
				return
			}
			s.busy = false
			answer()
			if !s.busy {
				s.resume()
			}
		})
	}
}

// exec runs fn on the session's loop (fn checks s.closed itself).
func (s *Session) exec(fn func()) { s.c.Exec(fn) }

// Exec runs fn on the session's loop if the connection is still open then.
func (s *Session) Exec(fn func()) {
	s.c.Exec(func() {
		if !s.closed {
			fn()
		}
	})
}

// Send writes a frame to this connection (on its loop). A frame that does
// not fit the connection's outbound limit closes it as a slow consumer
// (the transport counts that); a closing connection takes nothing more:
// either way there is nobody left to tell.
func (s *Session) Send(frame []byte) { _ = s.c.Write(frame) }

// Close closes the connection with code and reason (on its loop).
func (s *Session) Close(code eventloop.CloseCode, reason string) { s.c.Close(code, reason) }

// Errored counts an error reply of the session's protocol.
func (s *Session) Errored(e *Error) {
	code := string(e.Code)
	if e.byHook {
		code = "hook_refused" // the backend's codes are not a bounded set
	}
	s.node.m.errorReplies.WithLabelValues(code).Inc()
}

// Disconnect cleans up after the connection is gone (the carrier's close
// callback, on its loop): the session leaves its rooms, announcing it.
func (s *Session) Disconnect() {
	s.closed = true
	s.queue = nil
	s.node.conns.remove(s)
	s.disconnectIdentity()
	s.exitAll()
}

// member is this session's identity in a room.
func (s *Session) member(room string) broker.Member {
	return broker.Member{Room: room, User: s.UserID(), Name: s.Name(), ID: s.who}
}

// in returns the session's place in room (its Ref), or nil.
func (s *Session) in(room string) *rooms.Ref {
	if i := s.rooms.Index(room); i >= 0 {
		return s.rooms.At(i)
	}
	return nil
}

// In reports whether the session is in room.
func (s *Session) In(room string) bool { return s.rooms.Index(room) >= 0 }

// Current returns the room the session joined last ("" when none): for a
// protocol with one room per connection, its room.
func (s *Session) Current() string {
	if n := s.rooms.Len(); n > 0 {
		return s.rooms.At(n - 1).Room().ID()
	}
	return ""
}

// roomCount is the number of rooms the session is in. (A join in flight
// is not among them, but none is when a request is handled: the session
// waits for it.)
func (s *Session) roomCount() int { return s.rooms.Len() }

// sessionRooms is the rooms registry's way to a connection's Set.
func sessionRooms(c *eventloop.Conn) *rooms.Set { return &c.Value().(*Session).rooms }
