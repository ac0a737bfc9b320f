package v2

import (
	"encoding/json"
	"strings"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/chat"
)

// Protocol is protocol v2 over one carrier (its framing).
type Protocol struct{ f chat.Framing }

// New returns protocol v2 framed by f.
func New(f chat.Framing) *Protocol { return &Protocol{f: f} }

// Open gives the connection its time to say hello (-hello-timeout); it hears
// nothing before hello's ok.
func (p *Protocol) Open(s *chat.Session) { s.AwaitIdentity() }

// Refuse reports a request refused before it was handled, with its id.
func (p *Protocol) Refuse(s *chat.Session, b []byte, e *chat.Error) {
	var req Request
	_ = parseRequest(b, &req) // for its id
	p.replyError(s, req.ID, e)
}

// Frame encodes ev as a v2 push.
func (p *Protocol) Frame(ev *chat.Event) []byte {
	var v any
	switch ev.Kind {
	case chat.EvMessage:
		v = messageOf(ev)
	case chat.EvJoined:
		v = &PresencePush{Type: TypeJoined, RoomID: ev.Room, UserID: ev.UserID, Name: ev.Name, MemberCount: ev.Count}
	case chat.EvLeft:
		v = &PresencePush{Type: TypeLeft, RoomID: ev.Room, UserID: ev.UserID, Name: ev.Name, MemberCount: ev.Count}
	case chat.EvTyping:
		v = &TypingPush{Type: TypeTyping, RoomID: ev.Room, UserID: ev.UserID, Name: ev.Name}
	case chat.EvResync:
		v = &ResyncPush{Type: TypeResync, RoomID: ev.Room, Reason: ev.Reason}
	default:
		return nil
	}
	return p.f.Frame(chat.Encode(v))
}

// messageOf is a message event in v2's shape.
func messageOf(ev *chat.Event) *Message {
	return &Message{Type: TypeMessage, RoomID: ev.Room, Offset: ev.Offset, Epoch: ev.Epoch, Content: ev.Content,
		UserID: ev.UserID, Name: ev.Name, Timestamp: ev.Timestamp}
}

// Messages turns message events into v2 messages (join and history
// results; the server API's history pages).
func Messages(evs []*chat.Event) []Message {
	out := make([]Message, len(evs))
	for i, ev := range evs {
		out[i] = *messageOf(ev)
	}
	return out
}

// send encodes v and writes it to s.
func (p *Protocol) send(s *chat.Session, v any) { s.Send(p.f.Frame(chat.Encode(v))) }

// reply sends a result to a request with an id; a request without one gets
// no reply when it succeeds.
func (p *Protocol) reply(s *chat.Session, id json.RawMessage, v any) {
	if len(id) > 0 {
		p.send(s, v)
	}
}

// replyOK answers a request whose result has no fields.
func (p *Protocol) replyOK(s *chat.Session, id json.RawMessage) {
	p.reply(s, id, &OKReply{Type: TypeOK, ID: id})
}

// replyError reports a refused request, with its id if it had one; the
// connection stays open.
func (p *Protocol) replyError(s *chat.Session, id json.RawMessage, e *chat.Error) {
	s.Errored(e)
	p.send(s, &Error{Type: TypeError, ID: id, Code: string(e.Code), Message: e.Msg})
}

// Handle dispatches one request. It runs on the connection's loop.
func (p *Protocol) Handle(s *chat.Session, b []byte) {
	var req Request
	e := parseRequest(b, &req)
	if !s.Allow(func(e *chat.Error) { p.replyError(s, req.ID, e) }) {
		return
	}
	if e != nil {
		p.replyError(s, req.ID, e)
		return
	}
	if !s.Identified() && req.Type != TypeHello {
		p.replyError(s, req.ID, errHelloFirst)
		return
	}
	switch req.Type {
	case TypeHello:
		p.hello(s, &req)
	case TypeJoin:
		p.join(s, &req)
	case TypeLeave:
		p.leave(s, &req)
	case TypePublish:
		p.publish(s, &req)
	case TypePresence:
		p.presence(s, &req)
	case TypeTyping:
		p.typing(s, &req)
	case TypeRooms:
		p.rooms(s, &req)
	case TypeHistory:
		p.history(s, &req)
	case TypeRefresh:
		p.refresh(s, &req)
	default:
		p.replyError(s, req.ID, chat.ErrUnknownType)
	}
}

// roomField validates the roomId of a request.
func roomField(s *chat.Session, req *Request) *chat.Error {
	if strings.TrimSpace(req.RoomID) == "" {
		return chat.Missing("roomId")
	}
	return chat.CheckName("roomId", req.RoomID, s.Node().Config().MaxRoomIDBytes)
}

// hello names the connection's user.
func (p *Protocol) hello(s *chat.Session, req *Request) {
	if s.Identified() {
		p.replyError(s, req.ID, errAlreadyHello)
		return
	}
	id := req.ID
	s.Identify(req.Token, req.Name, func(e *chat.Error) {
		if e != nil {
			p.replyError(s, id, e)
			if e.Code == chat.CodeUnauthorized {
				s.Close(eventloop.ClosePolicy, "unauthorized")
			}
			return
		}
		p.reply(s, id, &HelloOK{Type: TypeOK, ID: id, UserID: s.UserID(), Name: s.Name(), Node: s.Node().NodeID()})
	})
}

// join joins one more room; the connection stays in the others. With
// history it answers the newest messages; with since it recovers what the
// connection missed. A join of a room the connection is in is refused,
// unless it carries since: that is a recovery in place (after a resync).
func (p *Protocol) join(s *chat.Session, req *Request) {
	cfg := s.Node().Config()
	if e := roomField(s, req); e != nil {
		p.replyError(s, req.ID, e)
		return
	}
	if e := chat.CheckName("roomName", req.RoomName, cfg.MaxRoomNameBytes); e != nil {
		p.replyError(s, req.ID, e)
		return
	}
	if req.History < 0 {
		p.replyError(s, req.ID, chat.Errorf(chat.CodeBadField, `Field "history" must be a non-negative integer`))
		return
	}
	q := broker.HistoryQuery{Limit: min(req.History, cfg.HistoryLimit)}
	if req.Since != nil {
		q.Since = &broker.Position{Epoch: req.Since.Epoch, Offset: req.Since.Offset}
	}
	id, roomID := req.ID, req.RoomID
	done := func(res chat.JoinResult, e *chat.Error) {
		if e != nil {
			p.replyError(s, id, e)
			return
		}
		ok := &JoinOK{Type: TypeOK, ID: id, RoomID: roomID, MemberCount: res.MemberCount, Epoch: res.Epoch,
			Offset: res.Offset, Messages: Messages(res.Messages)}
		if q.Since != nil {
			ok.Recovered = &res.Recovered
		}
		p.reply(s, id, ok)
	}
	if q.Since != nil && s.In(roomID) {
		s.Recover(roomID, q, done)
		return
	}
	s.Join(roomID, req.RoomName, &q, done)
}

// leave leaves one room.
func (p *Protocol) leave(s *chat.Session, req *Request) {
	if e := roomField(s, req); e != nil {
		p.replyError(s, req.ID, e)
		return
	}
	if e := s.LeaveRoom(req.RoomID); e != nil {
		p.replyError(s, req.ID, e)
		return
	}
	p.replyOK(s, req.ID)
}

// publish sends a message to one of the connection's rooms: every other
// member connection gets it pushed; the publisher gets the ok, with the
// message's offset, once it is stored.
func (p *Protocol) publish(s *chat.Session, req *Request) {
	if e := roomField(s, req); e != nil {
		p.replyError(s, req.ID, e)
		return
	}
	ev, e := s.Message(req.RoomID, req.Content)
	if e != nil {
		p.replyError(s, req.ID, e)
		return
	}
	id, sent := req.ID, req.Content
	s.Publish(ev, func(offset uint64) {
		ok := &PublishOK{Type: TypeOK, ID: id, Offset: offset, Timestamp: ev.Timestamp}
		if ev.Content != sent {
			ok.Content = ev.Content // the publish hook replaced it: what the room got
		}
		p.reply(s, id, ok)
	}, func(e *chat.Error) { p.replyError(s, id, e) })
}

// history pages back through a joined room's stored messages: those with
// offsets below before (or the newest), at most limit, oldest first.
func (p *Protocol) history(s *chat.Session, req *Request) {
	if e := roomField(s, req); e != nil {
		p.replyError(s, req.ID, e)
		return
	}
	if req.Limit < 0 {
		p.replyError(s, req.ID, chat.Errorf(chat.CodeBadField, `Field "limit" must be a non-negative integer`))
		return
	}
	id := req.ID
	s.History(req.RoomID, req.Before, req.Limit, func(evs []*chat.Event, e *chat.Error) {
		if e != nil {
			p.replyError(s, id, e)
			return
		}
		p.reply(s, id, &HistoryOK{Type: TypeOK, ID: id, Messages: Messages(evs)})
	})
}

// presence lists a room's members, cluster-wide: users, not connections.
func (p *Protocol) presence(s *chat.Session, req *Request) {
	if e := roomField(s, req); e != nil {
		p.replyError(s, req.ID, e)
		return
	}
	id, roomID := req.ID, req.RoomID
	s.Presence(roomID, func(list []broker.Member, count int, e *chat.Error) {
		if e != nil {
			p.replyError(s, id, e)
			return
		}
		out := make([]Member, len(list))
		for i, m := range list {
			out[i] = Member{UserID: m.User, Name: m.Name}
		}
		p.reply(s, id, &PresenceOK{Type: TypeOK, ID: id, RoomID: roomID, MemberCount: count, Members: out,
			Truncated: count > len(out)})
	})
}

// typing tells a room's other members the user is typing.
func (p *Protocol) typing(s *chat.Session, req *Request) {
	if e := roomField(s, req); e != nil {
		p.replyError(s, req.ID, e)
		return
	}
	if e := s.Typing(req.RoomID); e != nil {
		p.replyError(s, req.ID, e)
		return
	}
	p.replyOK(s, req.ID)
}

// rooms answers one page of the room list, by room id: rooms after
// req.After whose ids start with req.Prefix, at most req.Limit (capped by
// RoomListMax), among the rooms the connection may join. Pages come from the
// node's shared list, so walking them sees each room once; a connection may
// ask for RoomListBurst pages in a row.
func (p *Protocol) rooms(s *chat.Session, req *Request) {
	cfg := s.Node().Config()
	if req.Limit < 0 {
		p.replyError(s, req.ID, chat.Errorf(chat.CodeBadField, `Field "limit" must be a non-negative integer`))
		return
	}
	limit := req.Limit
	if limit == 0 || limit > cfg.RoomListMax {
		limit = cfg.RoomListMax
	}
	id, after, prefix := req.ID, req.After, req.Prefix
	s.RoomList(cfg.RoomListBurst, func(snap *chat.RoomSnapshot, vis chat.Visible, e *chat.Error) {
		if e != nil {
			p.replyError(s, id, e)
			return
		}
		page, next := snap.Page(after, prefix, limit, cfg.MaxOutboundBytes/2, vis)
		out := &RoomsOK{Type: TypeOK, ID: id, Rooms: make([]RoomInfo, len(page)), Next: next}
		for i, r := range page {
			out.Rooms[i] = RoomInfo{RoomID: r.ID, Name: r.Name, MemberCount: r.Members, CreatedAt: r.CreatedAt}
		}
		p.reply(s, id, out)
	})
}

// refresh replaces the connection's token before it expires.
func (p *Protocol) refresh(s *chat.Session, req *Request) {
	if e := s.Refresh(req.Token); e != nil {
		p.replyError(s, req.ID, e)
		return
	}
	p.replyOK(s, req.ID)
}
