package chat

import (
	"errors"
	"strconv"

	"github.com/chatd/chatd/server/broker"
)

// JoinResult is what a join answers: the room's member count and, with a
// history query, where the room's history stands and the messages asked for.
type JoinResult struct {
	MemberCount int
	broker.Position
	Messages  []*Event // oldest first
	Recovered bool     // the query asked for Since, and every message after it is in Messages
}

var errAlreadyIn = Errorf(CodeAlreadyIn, "Already in this room")

// NotIn is the error of a request about a room the session is not in.
func NotIn(room string) *Error { return Errorf(CodeNotInRoom, "Not in room "+room) }

// Join enters roomID (creating it, named name or its id, if new). With q
// (nil: none) the answer holds the room's history position and the messages
// q asks for, and the connection receives every later event of the room
// and none before: the live stream continues where the answer ends. done
// runs on the loop: at once for a refusal, else once the join hook (if
// any) and the cluster answered (unless the connection closed meanwhile);
// the session is busy until then.
func (s *Session) Join(roomID, name string, q *broker.HistoryQuery, done func(JoinResult, *Error)) {
	if e := s.JoinAllowed(roomID); e != nil {
		done(JoinResult{}, e)
		return
	}
	if e := s.canEnter(roomID); e != nil {
		done(JoinResult{}, e)
		return
	}
	s.joinHook(roomID, name, s.Name(), func(e *Error) {
		if e != nil {
			done(JoinResult{}, e)
			return
		}
		s.join(roomID, name, q, done)
	})
}

// JoinApproved joins the room of a, which ApproveJoin checked and the join
// hook approved, without asking the hook again; otherwise as Join.
func (s *Session) JoinApproved(a JoinApproval, name string, q *broker.HistoryQuery, done func(JoinResult, *Error)) {
	if a.s != s {
		// A protocol's bug: refuse the join rather than skip the hook.
		s.node.cfg.Logger.Error("chat: JoinApproved without this session's approval", "room", a.room)
		done(JoinResult{}, ErrJoinFailed)
		return
	}
	if e := s.canEnter(a.room); e != nil {
		done(JoinResult{}, e)
		return
	}
	s.join(a.room, name, q, done)
}

// canEnter checks that the session may enter one more room: it is not in
// roomID already, and within MaxRoomsPerConn.
func (s *Session) canEnter(roomID string) *Error {
	cfg := &s.node.cfg
	if s.in(roomID) != nil {
		return errAlreadyIn
	}
	if s.roomCount() >= cfg.MaxRoomsPerConn {
		return Errorf(CodeTooManyRooms,
			"Too many rooms on one connection (max "+strconv.Itoa(cfg.MaxRoomsPerConn)+")")
	}
	return nil
}

// join enters roomID once every check passed.
func (s *Session) join(roomID, name string, q *broker.HistoryQuery, done func(JoinResult, *Error)) {
	if name == "" {
		name = roomID
	}
	if q != nil && q.Since != nil {
		s.node.m.recoveryAsked()
	}
	s.enter(roomID, name, q, func(count int, res broker.HistoryResult, err error) {
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				done(JoinResult{}, e) // refused by the core itself
				return
			}
			s.node.logClusterError("join failed", err, "room", roomID, "user", s.UserID())
			if isStorageFull(err) {
				done(JoinResult{}, errJoinStorageFull)
			} else if isUnavailable(err) {
				done(JoinResult{}, errJoinUnavailable)
			} else {
				done(JoinResult{}, ErrJoinFailed)
			}
			return
		}
		done(s.node.joinResult(roomID, count, q, res), nil)
	})
}

// Recover answers a join with since of a room the session is in (after a
// resync): the messages after since, up to the point of the room's delivery
// order where the read ends, so that the live stream continues after them.
// done runs on the loop; the session is busy until then.
func (s *Session) Recover(roomID string, q broker.HistoryQuery, done func(JoinResult, *Error)) {
	if e := s.JoinAllowed(roomID); e != nil {
		done(JoinResult{}, e)
		return
	}
	if s.in(roomID) == nil {
		done(JoinResult{}, NotIn(roomID))
		return
	}
	n := s.node
	n.m.recoveryAsked()
	answer := s.Await()
	fail := func(err error) {
		e := errNoRecovery
		if isStorageFull(err) {
			e = errRecoveryFull
		}
		answer(func() { done(JoinResult{}, e) })
	}
	n.broker.Members(roomID, 0, func(_ []broker.Member, count int, err error) {
		if err != nil {
			fail(err)
			return
		}
		n.broker.Sync(roomID, q, func(res broker.HistoryResult, err error) {
			if err != nil {
				fail(err)
				return
			}
			// On the delivery path: the answer is queued on the loop after
			// every event up to res.Offset, before any later one.
			answer(func() { done(n.joinResult(roomID, count, &q, res), nil) })
		})
	})
}

// joinResult builds a join's answer from a history read: the newest
// messages that fit in half a connection's outbound limit.
func (n *Node) joinResult(roomID string, count int, q *broker.HistoryQuery, res broker.HistoryResult) JoinResult {
	evs, cut := n.fitReply(n.DecodeMessages(roomID, res.Messages))
	r := JoinResult{MemberCount: count, Position: res.Position, Messages: evs}
	if q != nil && q.Since != nil {
		// Messages cut to fit the reply cannot count as recovered: the
		// client learns of the hole (and may page back through history).
		r.Recovered = res.Recovered && !cut
		n.m.recoveryOutcome(r.Recovered)
	}
	return r
}

// LeaveRoom leaves one room, announcing it to the room's other members
// (not to the leaver).
func (s *Session) LeaveRoom(roomID string) *Error {
	i := s.rooms.Index(roomID)
	if i < 0 {
		return NotIn(roomID)
	}
	s.exit(i, true, nil)
	return nil
}

// LeaveCurrent leaves the room joined last, if any (a protocol with one
// room per connection), then runs then on the loop once the cluster
// recorded the leave; the session is busy until then. Without a room, then
// runs at once.
func (s *Session) LeaveCurrent(then func()) {
	k := s.rooms.Len()
	if k == 0 {
		then()
		return
	}
	s.exit(k-1, true, then)
}
