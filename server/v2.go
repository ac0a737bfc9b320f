package server

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chatd/chatd/server/broker"
)

// Protocol v2, chatd's own (DESIGN §7): hello first, several rooms per
// connection, requests correlated by id, presence and typing.

// handleV2 dispatches one v2 request. It runs on the connection's loop.
func (s *session) handleV2(p []byte) {
	var req RequestV2
	e := parseRequestV2(p, &req)
	if !s.allowRequest(func(e *requestError) { s.replyError(req.ID, e) }) {
		return
	}
	if e != nil {
		s.replyError(req.ID, e)
		return
	}
	if !s.hello && req.Type != TypeHello {
		s.replyError(req.ID, errHelloFirst)
		return
	}
	switch req.Type {
	case TypeHello:
		s.helloV2(&req)
	case TypeJoin:
		s.joinV2(&req)
	case TypeLeave:
		s.leaveV2(&req)
	case TypePublish:
		s.publishV2(&req)
	case TypePresence:
		s.presenceV2(&req)
	case TypeTyping:
		s.typingV2(&req)
	case TypeRooms:
		s.roomsV2(&req)
	case TypeHistory:
		s.historyV2(&req)
	case TypeRefresh:
		s.refreshV2(&req)
	default:
		s.replyError(req.ID, errUnknownType)
	}
}

// reply sends a result to a request with an id; a request without one gets
// no reply when it succeeds.
func (s *session) reply(id json.RawMessage, v any) {
	if len(id) > 0 {
		s.send(frameOf(v))
	}
}

// replyOK answers a request whose result has no fields.
func (s *session) replyOK(id json.RawMessage) {
	s.reply(id, &OKReply{Type: TypeOK, ID: id})
}

// replyError reports a refused v2 request, with its id if it had one; the
// connection stays open.
func (s *session) replyError(id json.RawMessage, e *requestError) {
	s.srv.metrics.requestErrors(e.code)
	s.send(frameOf(&ErrorV2{Type: TypeError, ID: id, Code: string(e.code), Message: e.msg}))
}

// missing is the error of a required field left out.
func missing(field string) *requestError {
	return reqErr(CodeMissingField, `Field "`+field+`" is required`)
}

// roomField validates the roomId of a request.
func (s *session) roomField(req *RequestV2) *requestError {
	if strings.TrimSpace(req.RoomID) == "" {
		return missing("roomId")
	}
	return checkName("roomId", req.RoomID, s.srv.cfg.MaxRoomIDBytes)
}

// joined returns the membership a request's room must have.
func (s *session) joined(req *RequestV2) (*membership, *requestError) {
	if e := s.roomField(req); e != nil {
		return nil, e
	}
	m := s.in(req.RoomID)
	if m == nil {
		return nil, reqErr(CodeNotInRoom, "Not in room "+req.RoomID)
	}
	return m, nil
}

// helloV2 names the connection's user.
func (s *session) helloV2(req *RequestV2) {
	if s.hello {
		s.replyError(req.ID, errAlreadyHello)
		return
	}
	if s.srv.cfg.Auth != AuthOff && !s.helloIdentity(req) {
		return // refused: the connection is closing
	}
	if s.userID == "" {
		// No token: a self-declared name and a random id.
		if strings.TrimSpace(req.Name) == "" {
			s.replyError(req.ID, missing("name"))
			return
		}
		if e := checkName("name", req.Name, s.srv.cfg.MaxUsernameBytes); e != nil {
			s.replyError(req.ID, e)
			return
		}
		s.userID = newID()
		s.name = req.Name
	}
	s.hello = true
	s.srv.conns.add(s)
	s.reply(req.ID, &HelloOK{Type: TypeOK, ID: req.ID, UserID: s.userID, Name: s.name, Node: s.srv.cfg.NodeID})
}

// joinV2 joins one more room; the connection stays in the others. With
// history it answers the newest messages; with since it recovers what the
// connection missed. A join of a room the connection is in is refused,
// unless it carries since: that is a recovery in place (after a resync).
func (s *session) joinV2(req *RequestV2) {
	cfg := &s.srv.cfg
	if e := s.roomField(req); e != nil {
		s.replyError(req.ID, e)
		return
	}
	if e := checkName("roomName", req.RoomName, cfg.MaxRoomNameBytes); e != nil {
		s.replyError(req.ID, e)
		return
	}
	if e := s.joinAllowed(req.RoomID); e != nil {
		s.replyError(req.ID, e)
		return
	}
	if req.History < 0 {
		s.replyError(req.ID, reqErr(CodeBadField, `Field "history" must be a non-negative integer`))
		return
	}
	q := &broker.HistoryQuery{Limit: min(req.History, cfg.HistoryLimit)}
	if req.Since != nil {
		since := broker.Position{Epoch: req.Since.Epoch, Offset: req.Since.Offset}
		q.Since = &since
		s.srv.metrics.recoveryAsked()
	}
	if m := s.in(req.RoomID); m != nil {
		if q.Since == nil {
			s.replyError(req.ID, errAlreadyIn)
			return
		}
		s.recoverInPlace(req.ID, m, q)
		return
	}
	if int(s.joining) >= cfg.MaxRoomsPerConn {
		s.replyError(req.ID, reqErr(CodeTooManyRooms, "Too many rooms on one connection (max "+strconv.Itoa(cfg.MaxRoomsPerConn)+")"))
		return
	}
	name := req.RoomName
	if name == "" {
		name = req.RoomID
	}
	id, roomID := req.ID, req.RoomID
	s.joining++
	s.enter(roomID, name, q, func(_ *membership, count int, res broker.HistoryResult, err error) {
		if err != nil {
			s.joining--
			s.srv.logClusterError("join failed", err, "room", roomID, "user", s.userID)
			if isUnavailable(err) {
				s.replyError(id, reqErr(CodeUnavailable, msgJoinFailed+": cluster unavailable"))
			} else {
				s.replyError(id, errJoinFailed)
			}
		} else {
			s.reply(id, s.joinOK(id, roomID, count, q, res))
		}
		s.resume()
	})
}

// recoverInPlace answers a join with since of a room the connection is in:
// the messages after since, up to the point of the delivery order where the
// read ends. Pushes delivered before that point may repeat some of them: a
// client keeps the first copy of each offset.
func (s *session) recoverInPlace(id json.RawMessage, m *membership, q *broker.HistoryQuery) {
	roomID := m.roomID()
	b := s.srv.broker
	s.busy = true
	fail := func() {
		s.exec(func() {
			if !s.closed {
				s.replyError(id, reqErr(CodeUnavailable, "Recovery failed: cluster unavailable"))
				s.resume()
			}
		})
	}
	b.Members(roomID, 0, func(_ []broker.Member, count int, err error) {
		if err != nil {
			fail()
			return
		}
		b.Sync(roomID, *q, func(res broker.HistoryResult, err error) {
			if err != nil {
				fail()
				return
			}
			s.exec(func() {
				if !s.closed {
					s.reply(id, s.joinOK(id, roomID, count, q, res))
					s.resume()
				}
			})
		})
	})
}

// joinOK builds a join result from a history read.
func (s *session) joinOK(id json.RawMessage, roomID string, count int, q *broker.HistoryQuery,
	res broker.HistoryResult) *JoinOK {
	ok := &JoinOK{Type: TypeOK, ID: id, RoomID: roomID, MemberCount: count, Epoch: res.Epoch,
		Offset: res.Offset, Messages: s.srv.decodeMessages(roomID, res.Messages)}
	if q.Since != nil {
		recovered := res.Recovered
		ok.Recovered = &recovered
		s.srv.metrics.recoveryOutcome(recovered)
	}
	return ok
}

// leaveV2 leaves one room.
func (s *session) leaveV2(req *RequestV2) {
	m, e := s.joined(req)
	if e != nil {
		s.replyError(req.ID, e)
		return
	}
	s.joining--
	s.exit(m, true, nil)
	s.replyOK(req.ID)
}

// publishV2 sends a message to one of the connection's rooms: every other
// member connection gets it pushed; the publisher gets the ok.
func (s *session) publishV2(req *RequestV2) {
	m, e := s.joined(req)
	if e != nil {
		s.replyError(req.ID, e)
		return
	}
	if req.Content == "" {
		s.replyError(req.ID, errBadContent)
		return
	}
	ev := &event{kind: evMessage, room: m.roomID(), content: req.Content, username: s.name, userID: s.userID,
		timestamp: jsTime(time.Now()), skip: s}
	s.srv.metrics.chatMessage()
	id := req.ID
	// The ok carries the message's offset, known once it is stored.
	s.publish(ev, ev.body(), func(offset uint64, err error) {
		s.exec(func() {
			if s.closed {
				return
			}
			if err != nil {
				s.replyError(id, reqErr(CodeUnavailable, "Message not delivered: cluster unavailable"))
				return
			}
			s.reply(id, &PublishOK{Type: TypeOK, ID: id, Offset: offset, Timestamp: ev.timestamp})
		})
	})
}

// historyV2 pages back through a joined room's stored messages: those with
// offsets below before (or the newest), at most limit, oldest first.
func (s *session) historyV2(req *RequestV2) {
	m, e := s.joined(req)
	if e != nil {
		s.replyError(req.ID, e)
		return
	}
	if req.Limit < 0 {
		s.replyError(req.ID, reqErr(CodeBadField, `Field "limit" must be a non-negative integer`))
		return
	}
	limit := req.Limit
	if limit == 0 || limit > s.srv.cfg.HistoryLimit {
		limit = s.srv.cfg.HistoryLimit
	}
	id, roomID := req.ID, m.roomID()
	s.busy = true
	s.srv.metrics.historyRead()
	s.srv.broker.History(roomID, broker.HistoryQuery{Before: req.Before, Limit: limit},
		func(res broker.HistoryResult, err error) {
			s.exec(func() {
				if s.closed {
					return
				}
				if err != nil {
					s.replyError(id, reqErr(CodeUnavailable, "History unavailable: cluster unavailable"))
				} else {
					s.reply(id, &HistoryOK{Type: TypeOK, ID: id, Messages: s.srv.decodeMessages(roomID, res.Messages)})
				}
				s.resume()
			})
		})
}

// presenceV2 lists a room's members, cluster-wide: users, not connections.
func (s *session) presenceV2(req *RequestV2) {
	m, e := s.joined(req)
	if e != nil {
		s.replyError(req.ID, e)
		return
	}
	id, roomID := req.ID, m.roomID()
	limit := s.srv.cfg.PresenceMax
	s.busy = true
	s.srv.broker.Members(roomID, limit, func(list []broker.Member, count int, err error) {
		s.exec(func() {
			if s.closed {
				return
			}
			if err != nil {
				s.replyError(id, reqErr(CodeUnavailable, "Presence unavailable: cluster unavailable"))
			} else {
				out := make([]MemberV2, len(list))
				for i, m := range list {
					out[i] = MemberV2{UserID: m.User, Name: m.Name}
				}
				s.reply(id, &PresenceOK{Type: TypeOK, ID: id, RoomID: roomID, MemberCount: count, Members: out,
					Truncated: count > len(out)})
			}
			s.resume()
		})
	})
}

// typingTick is the unit of the typing clock (rooms.Member.Stamp).
const typingTick = int64(8 * time.Millisecond)

// typingV2 tells a room's other members the user is typing: never stored,
// never echoed, and at most one per TypingInterval per connection and room
// forwarded (the rest are dropped, counted).
func (s *session) typingV2(req *RequestV2) {
	m, e := s.joined(req)
	if e != nil {
		s.replyError(req.ID, e)
		return
	}
	// A 16-bit clock of 8 ms ticks, kept in two bytes of the membership: it
	// wraps every 524 s, so a notice exactly a multiple of that after the
	// last one may be dropped too; harmless for a typing indicator.
	now := uint16(s.srv.now()/typingTick) | 1
	if m.Stamp != 0 && int64(now-m.Stamp)*int64(typingTick) < int64(s.srv.cfg.TypingInterval) {
		s.srv.metrics.typingDropped()
		s.replyOK(req.ID)
		return
	}
	m.Stamp = now
	ev := &event{kind: evTyping, room: m.roomID(), username: s.name, userID: s.userID, skip: s}
	s.publish(ev, ev.body(), nil)
	s.replyOK(req.ID)
}

// roomsV2 answers one page of the room list, by room id: rooms after
// req.After whose ids start with req.Prefix, at most req.Limit (capped by
// RoomListMax). Pages come from the node's shared list (roomlist.go), so
// walking them sees each room once.
func (s *session) roomsV2(req *RequestV2) {
	cfg := &s.srv.cfg
	if req.Limit < 0 {
		s.replyError(req.ID, reqErr(CodeBadField, `Field "limit" must be a non-negative integer`))
		return
	}
	if !s.roomListAllowed() {
		s.replyError(req.ID, errRoomListRate)
		return
	}
	limit := req.Limit
	if limit == 0 || limit > cfg.RoomListMax {
		limit = cfg.RoomListMax
	}
	id, after, prefix := req.ID, req.After, req.Prefix
	s.busy = true
	s.srv.roomList.get(func(snap *roomSnapshot, err error) {
		s.exec(func() {
			if s.closed {
				return
			}
			if err != nil {
				s.replyError(id, reqErr(CodeUnavailable, "Room list unavailable: cluster unavailable"))
			} else {
				s.reply(id, snap.page(id, after, prefix, limit, cfg.MaxOutboundBytes/2))
			}
			s.resume()
		})
	})
}

// page returns the rooms after after (by id) that start with prefix, at most
// limit of them, and at most maxBytes of JSON.
func (snap *roomSnapshot) page(id json.RawMessage, after, prefix string, limit, maxBytes int) *RoomsOK {
	start := max(after, prefix)
	i := sort.Search(len(snap.byID), func(i int) bool { return snap.byID[i].ID >= start })
	if i < len(snap.byID) && snap.byID[i].ID == after {
		i++
	}
	out := &RoomsOK{Type: TypeOK, ID: id, Rooms: []RoomInfo{}}
	size := 0
	for ; i < len(snap.byID) && strings.HasPrefix(snap.byID[i].ID, prefix); i++ {
		r := snap.byID[i]
		size += len(r.ID) + len(r.Name) + len(r.CreatedAt) + 64
		if len(out.Rooms) == limit || (size > maxBytes && len(out.Rooms) > 0) {
			out.Next = out.Rooms[len(out.Rooms)-1].RoomID
			break
		}
		out.Rooms = append(out.Rooms, RoomInfo{RoomID: r.ID, Name: r.Name, MemberCount: r.Members, CreatedAt: r.CreatedAt})
	}
	return out
}
