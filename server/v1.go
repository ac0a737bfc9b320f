package server

import (
	"strings"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/broker"
)

// Protocol v1, the reference app's (DESIGN §3): one room per connection,
// self-declared names, replies without ids.

// allowRequest applies the per-connection rate limit and the drain to one
// request; it reports whether the request may go on (refusing it otherwise,
// with reply(e) unless the connection was closed for abuse).
func (s *session) allowRequest(reply func(*requestError)) bool {
	cfg := &s.srv.cfg
	now := s.srv.now()
	if !s.rate.allow(now, cfg.RateLimit, cfg.RateBurst) {
		s.srv.metrics.rateLimitedRefusal()
		if s.rate.abusive(now, int64(cfg.RateAbuseWindow), cfg.RateAbuseRefusals) {
			s.srv.metrics.rateLimitClose()
			s.c.Close(eventloop.ClosePolicy, "rate limit abuse")
			return false
		}
		reply(errRateLimited)
		return false
	}
	if s.srv.draining.Load() {
		reply(errDraining)
		return false
	}
	return true
}

// handleV1 dispatches one v1 request. It runs on the connection's loop.
func (s *session) handleV1(p []byte) {
	if !s.allowRequest(s.sendError) {
		return
	}
	var req Request
	if e := parseRequest(p, &req); e != nil {
		s.sendError(e)
		return
	}
	switch req.Type {
	case TypeJoin:
		s.join(&req)
	case TypeMessage:
		s.message(&req)
	case TypeLeaveRoom:
		// The reference app sends no reply to leaveRoom.
		if s.rooms != nil {
			s.exit(s.rooms, true, s.resume)
		}
	case TypeGetRoomList:
		s.roomList()
	default:
		s.sendError(errUnknownType)
	}
}

// join leaves the current room (announcing it), then joins req.RoomID.
func (s *session) join(req *Request) {
	cfg := &s.srv.cfg
	if s.authed {
		req.Username = s.name // the token names the user; the client's username is ignored
	}
	if strings.TrimSpace(req.RoomID) == "" || strings.TrimSpace(req.Username) == "" {
		s.sendError(errJoinRequired)
		return
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"username", req.Username, cfg.MaxUsernameBytes}, {"roomId", req.RoomID, cfg.MaxRoomIDBytes},
		{"roomName", req.RoomName, cfg.MaxRoomNameBytes}} {
		if e := checkName(f.name, f.v, f.max); e != nil {
			s.sendError(e)
			return
		}
	}
	if e := s.joinAllowed(req.RoomID); e != nil {
		s.sendError(e)
		return
	}
	roomID, username, name := req.RoomID, req.Username, req.RoomName
	if name == "" {
		name = roomID
	}
	if s.rooms != nil {
		s.exit(s.rooms, true, func() { s.joinV1(roomID, username, name) })
		return
	}
	s.joinV1(roomID, username, name)
}

// joinV1 enters the room and answers roomJoined once the node is subscribed
// to it and the membership is recorded: from then on the client receives
// every event of the room.
func (s *session) joinV1(roomID, username, name string) {
	if s.closed {
		return
	}
	s.name = username
	s.enter(roomID, name, nil, func(_ *membership, count int, _ broker.HistoryResult, err error) {
		if err != nil {
			s.joinFailed(roomID, err)
		} else {
			s.send(frameOf(&RoomJoined{Type: TypeRoomJoined, RoomID: roomID, MemberCount: count,
				Message: "Joined room " + roomID}))
		}
		s.resume()
	})
}

// joinFailed reports a failed v1 join.
func (s *session) joinFailed(roomID string, err error) {
	s.srv.logClusterError("join failed", err, "room", roomID, "user", s.userID)
	if isUnavailable(err) {
		s.sendError(reqErr(CodeUnavailable, msgJoinFailed+": cluster unavailable"))
	} else {
		s.sendError(errJoinFailed)
	}
}

// message sends a chat message: echoed to the sender at once, published to
// the room for everyone else. The frame is encoded once, for both.
func (s *session) message(req *Request) {
	if s.rooms == nil {
		s.sendError(errNotInRoom)
		return
	}
	if req.Content == "" {
		s.sendError(errBadContent)
		return
	}
	ev := &event{kind: evMessage, room: s.rooms.roomID(), content: req.Content, username: s.name,
		userID: s.userID, timestamp: jsTime(time.Now()), skip: s}
	frame := ev.v1Frame()
	s.send(frame)
	s.srv.metrics.chatMessage()
	s.publish(ev, frame[frameHeaderLen(frame):], s.published)
}

// publish hands one of this connection's events to the broker: reference
// nodes leave the user out, this node the connection. Messages are stored
// in the room's history.
func (s *session) publish(ev *event, body []byte, done func(uint64, error)) {
	s.srv.broker.Publish(&broker.Event{Room: ev.room, Body: body, Exclude: s.userID, Conn: s.id, Local: ev,
		Store: ev.kind == evMessage}, done)
}

// published tells a v1 sender if its message did not reach the cluster. It
// may run on any goroutine.
func (s *session) published(_ uint64, err error) {
	if err == nil {
		return
	}
	s.exec(func() {
		if !s.closed {
			s.sendError(reqErr(CodeUnavailable, "Message not delivered: cluster unavailable"))
		}
	})
}

// roomList answers getRoomList from the node's shared room list (see
// roomlist.go), at most once per RoomListInterval per connection.
func (s *session) roomList() {
	if !s.roomListAllowed() {
		s.sendError(errRoomListRate)
		return
	}
	s.busy = true
	s.srv.roomList.get(func(snap *roomSnapshot, err error) {
		s.exec(func() {
			if s.closed {
				return
			}
			if err != nil {
				s.sendError(reqErr(CodeUnavailable, "Room list unavailable: cluster unavailable"))
			} else {
				s.send(snap.frame)
			}
			s.resume()
		})
	})
}

// roomListAllowed applies the per-connection room list interval.
func (s *session) roomListAllowed() bool {
	now := s.srv.ms()
	if s.listAt != 0 && int64(now-s.listAt) < s.srv.cfg.RoomListInterval.Milliseconds() {
		return false
	}
	s.listAt = now
	return true
}

// disconnect cleans up after the connection is gone.
func (s *session) disconnect() {
	s.closed = true
	s.queue = nil
	s.srv.conns.remove(s)
	s.disconnectIdentity()
	s.exitAll()
}
