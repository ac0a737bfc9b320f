package server

import (
	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/rooms"
)

// session is one connection's chat state. It lives on the connection's
// event loop: every field is touched there only (broker callbacks come back
// through Conn.Exec).
type session struct {
	srv      *Server
	c        *eventloop.Conn
	userID   string
	username string      // set by the last join
	room     *rooms.Room // current room (its local membership), nil when none
	// busy is set while a cluster request of this connection is in flight
	// (join, leave, room list). Later requests wait in queue, so that the
	// requests of one connection are handled in the order sent: a message
	// sent right after a join is not refused because the join has not
	// finished yet.
	queue  *[][]byte // allocated only while requests wait (8 bytes per idle session, not 24)
	rate   tokenBucket
	busy   bool
	closed bool
	// ipSlot is the connection's entry in Server.perIP (0: not counted).
	// Last, so that it sits in the padding after the bools.
	ipSlot int32
}

// receive handles a request, or queues it behind an in-flight one.
func (s *session) receive(p []byte) {
	if s.busy {
		if s.queue == nil {
			s.queue = new([][]byte)
		}
		if len(*s.queue) >= s.srv.cfg.MaxQueuedRequests {
			s.sendError(errQueueFull)
			return
		}
		*s.queue = append(*s.queue, append([]byte(nil), p...))
		return
	}
	s.handle(p)
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

// exec runs fn on the session's loop unless the connection is gone by then.
func (s *session) exec(fn func()) {
	s.c.Exec(fn)
}

// send writes a pre-encoded frame to this connection.
func (s *session) send(frame []byte) { _ = s.c.Write(frame) }

// sendError reports a refused request; the connection stays open.
func (s *session) sendError(e *requestError) {
	s.srv.metrics.requestErrors(e.code)
	s.send(frameOf(&Error{Type: TypeError, Message: e.msg, Code: string(e.code)}))
}

// member is this session's identity in a room.
func (s *session) member(room string) Member {
	return Member{RoomID: room, UserID: s.userID, Username: s.username}
}
