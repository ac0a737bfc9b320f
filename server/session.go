package server

import (
	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/rooms"
	"github.com/chatd/chatd/server/broker"
)

// Member classes in the room registry: a room event is encoded once per
// protocol its local members speak, and each class is fanned out apart.
const (
	classV1    = 0
	classV2    = 1
	numClasses = 2
)

// session is one connection's chat state. It lives on the connection's
// event loop: every field is touched there only (broker callbacks come back
// through Conn.Exec).
type session struct {
	srv    *Server
	c      *eventloop.Conn
	id     uint64 // the connection's number on this node (connIndex)
	userID string
	name   string      // v1: the username of the last join; v2: from hello
	rooms  *membership // the rooms joined (v1: at most one), a list
	// busy is set while a cluster request of this connection is in flight
	// (join, leave, room list). Later requests wait in queue, so that the
	// requests of one connection are handled in the order sent: a message
	// sent right after a join is not refused because the join has not
	// finished yet.
	queue   *[][]byte // allocated only while requests wait (8 bytes per idle session, not 24)
	rate    tokenBucket
	listAt  uint32 // ms of the server clock at the last room list request; 0: none yet
	joining uint16 // v2: rooms being joined or joined (against MaxRoomsPerConn)
	v2      bool   // the connection speaks protocol v2
	hello   bool   // v2: hello succeeded
	busy    bool
	closed  bool
	authed  bool // the connection has a token (an entry in the node's tokenRegistry)
	guest   bool // -auth optional without a token: only -guest-rooms
	// ipSlot is the connection's entry in Server.perIP (0: not counted).
	// Last, so that it sits in the padding after the bools.
	ipSlot int32
}

// membership is a session's place in one room: 32 bytes. (The v2 typing
// clock lives in rooms.Member.Stamp, see typingV2.)
type membership struct {
	rooms.Member             // the local membership (fan-out)
	next         *membership // the session's next room
}

// roomID returns the room's id.
func (m *membership) roomID() string { return m.Room().ID() }

// class returns the session's member class.
func (s *session) class() int {
	if s.v2 {
		return classV2
	}
	return classV1
}

// in returns the session's membership of room, or nil.
func (s *session) in(room string) *membership {
	for m := s.rooms; m != nil; m = m.next {
		if m.roomID() == room {
			return m
		}
	}
	return nil
}

// unlink removes m from the session's list.
func (s *session) unlink(m *membership) {
	for p := &s.rooms; *p != nil; p = &(*p).next {
		if *p == m {
			*p = m.next
			m.next = nil
			return
		}
	}
}

// receive handles a request, or queues it behind an in-flight one.
func (s *session) receive(p []byte) {
	if s.busy {
		if s.queue == nil {
			s.queue = new([][]byte)
		}
		if len(*s.queue) >= s.srv.cfg.MaxQueuedRequests {
			s.refuse(p, errQueueFull)
			return
		}
		*s.queue = append(*s.queue, append([]byte(nil), p...))
		return
	}
	s.handle(p)
}

// handle dispatches one request by protocol.
func (s *session) handle(p []byte) {
	if s.v2 {
		s.handleV2(p)
		return
	}
	s.handleV1(p)
}

// refuse answers a request that is refused before it is handled.
func (s *session) refuse(p []byte, e *requestError) {
	if !s.v2 {
		s.sendError(e)
		return
	}
	var req RequestV2
	_ = parseRequestV2(p, &req) // for its id
	s.replyError(req.ID, e)
}

// resume ends the in-flight request and handles what queued behind it.
func (s *session) resume() {
	s.busy = false
	for !s.busy && !s.closed && s.queue != nil && len(*s.queue) > 0 {
		q := *s.queue
		p := q[0]
		q[0] = nil
		*s.queue = q[1:]
		s.handle(p)
	}
	if s.queue != nil && len(*s.queue) == 0 {
		s.queue = nil
	}
}

// exec runs fn on the session's loop (fn checks s.closed itself).
func (s *session) exec(fn func()) {
	s.c.Exec(fn)
}

// send writes a pre-encoded frame to this connection.
func (s *session) send(frame []byte) { _ = s.c.Write(frame) }

// sendError reports a refused v1 request; the connection stays open.
func (s *session) sendError(e *requestError) {
	s.srv.metrics.requestErrors(e.code)
	s.send(frameOf(&Error{Type: TypeError, Message: e.msg, Code: string(e.code)}))
}

// member is this session's identity in a room.
func (s *session) member(room string) broker.Member {
	return memberOf(room, s.userID, s.name)
}

// memberOf builds a broker member.
func memberOf(room, user, name string) broker.Member {
	return broker.Member{Room: room, User: user, Name: name}
}

// ms is the server clock in milliseconds, in 32 bits (differences stay
// right across the wrap), never 0.
func (srv *Server) ms() uint32 { return uint32(srv.now()/1e6) | 1 }
