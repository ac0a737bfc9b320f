package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/broker"
)

// handle dispatches one request. It runs on the connection's loop.
func (s *session) handle(p []byte) {
	cfg := &s.srv.cfg
	now := s.srv.now()
	if !s.rate.allow(now, cfg.RateLimit, cfg.RateBurst) {
		s.srv.metrics.rateLimitedRefusal()
		if s.rate.abusive(now, int64(cfg.RateAbuseWindow), cfg.RateAbuseRefusals) {
			s.srv.metrics.rateLimitClose()
			s.c.Close(eventloop.ClosePolicy, "rate limit abuse")
			return
		}
		s.sendError(errRateLimited)
		return
	}
	if s.srv.draining.Load() {
		s.sendError(errDraining)
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
		if s.room != nil {
			s.leave(true, s.resume)
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
	roomID, username, name := req.RoomID, req.Username, req.RoomName
	if name == "" {
		name = roomID
	}
	if s.room != nil {
		s.leave(true, func() { s.enter(roomID, username, name) })
		return
	}
	s.enter(roomID, username, name)
}

// enter subscribes the node to the room, records the membership in the
// cluster, and only then tells the client it joined: from roomJoined on, it
// receives every event of the room.
func (s *session) enter(roomID, username, name string) {
	if s.closed {
		return
	}
	s.busy = true
	s.username = username
	b := s.srv.broker
	m := s.member(roomID)
	b.Subscribe(roomID, func(err error) {
		if err != nil {
			s.exec(func() { s.joinFailed(roomID, err, false) })
			return
		}
		b.Join(m, name, func(st broker.Membership, err error) {
			s.exec(func() {
				if err != nil {
					s.joinFailed(roomID, err, true)
					return
				}
				s.entered(roomID, st.Count)
			})
		})
	})
}

// entered completes a join on the loop.
func (s *session) entered(roomID string, count int) {
	srv := s.srv
	if s.closed {
		// The client left while the join was in flight: undo it.
		m := s.member(roomID)
		srv.broker.Leave(m, func(st broker.Membership, err error) {
			srv.broker.Unsubscribe(roomID)
			if err == nil {
				srv.publishPresence(TypeUserLeft, m, st.Count, "")
			}
		})
		return
	}
	s.room = srv.rooms.Join(roomID, s.c)
	srv.metrics.joined()
	s.send(frameOf(&RoomJoined{Type: TypeRoomJoined, RoomID: roomID, MemberCount: count,
		Message: "Joined room " + roomID}))
	srv.publishPresence(TypeUserJoined, s.member(roomID), count, s.userID)
	s.resume()
}

// joinFailed reports a failed join and releases what it took.
func (s *session) joinFailed(roomID string, err error, subscribed bool) {
	if subscribed {
		s.srv.broker.Unsubscribe(roomID)
	}
	s.srv.logClusterError("join failed", err, "room", roomID, "user", s.userID)
	if s.closed {
		return
	}
	if errors.Is(err, broker.ErrUnavailable) {
		s.sendError(reqErr(CodeUnavailable, msgJoinFailed+": cluster unavailable"))
	} else {
		s.sendError(errJoinFailed)
	}
	s.resume()
}

// leave removes the session from its room: locally at once (no more
// deliveries), then in the cluster, then announces it. explicit leaves
// (leaveRoom, re-join) exclude the leaver from its own userLeft, like the
// reference app; a disconnect does not. then runs on the loop afterwards.
func (s *session) leave(explicit bool, then func()) {
	srv := s.srv
	roomID := s.room.ID()
	m := s.member(roomID)
	srv.rooms.Leave(s.room, s.c)
	s.room = nil
	srv.metrics.left()
	exclude := ""
	if explicit {
		exclude = s.userID
	}
	if then != nil {
		s.busy = true
	}
	srv.leaving.Add(1)
	srv.broker.Leave(m, func(st broker.Membership, err error) {
		defer srv.leaving.Done()
		srv.broker.Unsubscribe(roomID)
		if err != nil {
			srv.logClusterError("leave failed", err, "room", roomID, "user", m.User)
		} else {
			srv.publishPresence(TypeUserLeft, m, st.Count, exclude)
		}
		if then != nil {
			s.exec(then)
		}
	})
}

// message sends a chat message: echoed to the sender at once, published to
// the room for everyone else. The frame is encoded once, for both.
func (s *session) message(req *Request) {
	if s.room == nil {
		s.sendError(errNotInRoom)
		return
	}
	if req.Content == "" {
		s.sendError(errBadContent)
		return
	}
	msg := &Chat{Type: TypeMessage, Content: req.Content, Username: s.username, UserID: s.userID,
		Timestamp: jsTime(time.Now())}
	frame := frameOf(msg)
	s.send(frame)
	s.srv.metrics.chatMessage()
	s.srv.broker.Publish(roomEvent(s.room.ID(), frame, s.userID), s.publishFailed)
}

// publishFailed tells the sender its message did not reach the cluster.
// It may run on any goroutine.
func (s *session) publishFailed(error) {
	s.exec(func() {
		if !s.closed {
			s.sendError(reqErr(CodeUnavailable, "Message not delivered: cluster unavailable"))
		}
	})
}

// roomList answers getRoomList from the node's shared room list (see
// roomlist.go), at most once per RoomListInterval per connection.
func (s *session) roomList() {
	now := s.srv.now()
	if s.listAt != 0 && now-s.listAt < int64(s.srv.cfg.RoomListInterval) {
		s.sendError(errRoomListRate)
		return
	}
	s.listAt = now
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

// disconnect cleans up after the connection is gone.
func (s *session) disconnect() {
	s.closed = true
	s.queue = nil
	s.srv.users.remove(s)
	if s.room != nil {
		s.leave(false, nil)
	}
}

// logClusterError logs a failed cluster request: at debug level when the
// cluster is simply unreachable (the broker logs each outage once), at warn
// level otherwise.
func (srv *Server) logClusterError(msg string, err error, args ...any) {
	lv := slog.LevelWarn
	if errors.Is(err, broker.ErrUnavailable) {
		lv = slog.LevelDebug
	}
	srv.cfg.Logger.Log(context.Background(), lv, msg, append(args, "err", err)...)
}
