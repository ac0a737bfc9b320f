package v1

import (
	"strings"
	"sync/atomic"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/chat"
)

// Protocol is protocol v1 over one carrier (its framing).
type Protocol struct {
	f       chat.Framing
	trimmed atomic.Bool // the size bound cut a room list once (logged once)
}

// New returns protocol v1 framed by f.
func New(f chat.Framing) *Protocol { return &Protocol{f: f} }

// Open greets the connection with its user id: a v1 session is identified
// as it opens (by the upgrade's token, the connect hook, or as a random id
// whose name each join gives). With a connect hook the greeting waits for
// its answer; a refusal is told as an error instead, and the connection
// closes.
func (p *Protocol) Open(s *chat.Session) {
	s.IdentifyAtOpen(func(e *chat.Error) {
		if e != nil {
			p.sendError(s, e)
			return
		}
		p.send(s, &Connected{Type: TypeConnected, Message: "Connected", UserID: s.UserID()})
	})
}

// Refuse reports a request refused before it was handled.
func (p *Protocol) Refuse(s *chat.Session, _ []byte, e *chat.Error) { p.sendError(s, e) }

// Frame returns the reference app's object of ev, framed: the bytes the
// cluster carries, encoded once per event. v1 has no resync.
func (p *Protocol) Frame(ev *chat.Event) []byte {
	if ev.Kind == chat.EvResync {
		return nil
	}
	return ev.FramedReference(p.f)
}

// send encodes v and writes it to s.
func (p *Protocol) send(s *chat.Session, v any) { s.Send(p.f.Frame(chat.Encode(v))) }

// sendError reports a refused request; the connection stays open.
func (p *Protocol) sendError(s *chat.Session, e *chat.Error) {
	s.Errored(e)
	p.send(s, &Error{Type: TypeError, Message: e.Msg, Code: string(e.Code)})
}

// Handle dispatches one request. It runs on the connection's loop.
func (p *Protocol) Handle(s *chat.Session, b []byte) {
	refuse := func(e *chat.Error) { p.sendError(s, e) }
	if !s.Allow(refuse) {
		return
	}
	var req Request
	if e := parseRequest(b, &req); e != nil {
		p.sendError(s, e)
		return
	}
	switch req.Type {
	case TypeJoin:
		p.join(s, &req)
	case TypeMessage:
		p.message(s, &req)
	case TypeLeaveRoom:
		// The reference app sends no reply to leaveRoom.
		s.LeaveCurrent(func() {})
	case TypeGetRoomList:
		p.roomList(s)
	default:
		p.sendError(s, chat.ErrUnknownType)
	}
}

// join leaves the current room (announcing it), then joins req.RoomID and
// answers roomJoined once the node is subscribed to it and the membership
// is recorded: from then on the client receives every event of the room.
func (p *Protocol) join(s *chat.Session, req *Request) {
	cfg := s.Node().Config()
	if s.Named() {
		req.Username = s.Name() // a token or the connect hook names the user; the client's username is ignored
	}
	if strings.TrimSpace(req.RoomID) == "" || strings.TrimSpace(req.Username) == "" {
		p.sendError(s, errJoinRequired)
		return
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"username", req.Username, cfg.MaxUsernameBytes}, {"roomId", req.RoomID, cfg.MaxRoomIDBytes},
		{"roomName", req.RoomName, cfg.MaxRoomNameBytes}} {
		if e := chat.CheckName(f.name, f.v, f.max); e != nil {
			p.sendError(s, e)
			return
		}
	}
	roomID, username, name := req.RoomID, req.Username, req.RoomName
	// The rooms claim and the join hook decide before the current room is
	// left: a refused join leaves the connection where it was.
	s.ApproveJoin(roomID, name, username, func(a chat.JoinApproval, e *chat.Error) {
		if e != nil {
			p.sendError(s, e)
			return
		}
		s.LeaveCurrent(func() {
			s.SetName(username)
			s.JoinApproved(a, name, nil, func(res chat.JoinResult, e *chat.Error) {
				if e != nil {
					p.sendError(s, e)
					return
				}
				p.send(s, &RoomJoined{Type: TypeRoomJoined, RoomID: roomID, MemberCount: res.MemberCount,
					Message: "Joined room " + roomID})
			})
		})
	})
}

// message sends a chat message: echoed to the sender at once, published to
// the room for everyone else. The frame is encoded once, for both. With a
// publish hook the echo waits for its answer: what is echoed is what the
// room gets (a replacement, or nothing but the refusal).
func (p *Protocol) message(s *chat.Session, req *Request) {
	room := s.Current()
	if room == "" {
		p.sendError(s, errNotInRoom)
		return
	}
	ev, e := s.Message(room, req.Content)
	if e != nil {
		p.sendError(s, e)
		return
	}
	if !s.Node().PublishHookOn() {
		p.echoAndPublish(s, ev) // no closure for the hook's answer: this is the hot path
		return
	}
	s.Screen(ev, func(e *chat.Error) {
		if e != nil {
			p.sendError(s, e)
			return
		}
		p.echoAndPublish(s, ev)
	})
}

// echoAndPublish echoes a message to its sender and publishes it.
func (p *Protocol) echoAndPublish(s *chat.Session, ev *chat.Event) {
	s.Send(ev.FramedReference(p.f))
	s.Publish(ev, nil, func(e *chat.Error) { p.sendError(s, e) })
}

// roomList answers getRoomList from the node's shared room list: one reply
// per snapshot, shared by every requester.
func (p *Protocol) roomList(s *chat.Session) {
	s.RoomList(1, func(snap *chat.RoomSnapshot, vis chat.Visible, e *chat.Error) {
		if e != nil {
			p.sendError(s, e)
			return
		}
		s.Send(snap.Memo(memoKey{p, vis.Key()}, func() []byte { return p.roomListFrame(s.Node(), snap, vis) }))
	})
}

// memoKey names one encoding of a snapshot's room list: this protocol's,
// for the sessions that see the same rooms.
type memoKey struct {
	p       *Protocol
	visible string
}

// roomListFrame encodes the reference app's roomList reply: the
// RoomListMax rooms of vis with the most members, listed oldest first as
// the reference client expects, and never more bytes than half a
// connection's outbound limit, so that asking for it cannot close the
// requester as a slow consumer: past it, the rooms with the fewest members
// are left out.
func (p *Protocol) roomListFrame(n *chat.Node, snap *chat.RoomSnapshot, vis chat.Visible) []byte {
	cfg := n.Config()
	k := min(cfg.RoomListMax, snap.Len())
	for {
		shown := snap.Top(k, vis)
		frame := p.f.Frame(chat.Encode(&RoomList{Type: TypeRoomList, Rooms: roomInfos(shown)}))
		if len(frame) <= cfg.MaxOutboundBytes/2 || len(shown) == 0 {
			return frame
		}
		// Long ids and names: keep the reply well under the outbound limit.
		if !p.trimmed.Swap(true) {
			cfg.Logger.Warn("room list reply cut to stay under half of -max-outbound-bytes; lower -room-list-max",
				"rooms", k, "bytes", len(frame), "max_outbound_bytes", cfg.MaxOutboundBytes)
		}
		k = len(shown) * 3 / 4
	}
}

// roomInfos turns rooms into room list entries.
func roomInfos(rooms []broker.Room) []RoomInfo {
	list := make([]RoomInfo, len(rooms))
	for i, r := range rooms {
		list[i] = RoomInfo{RoomID: r.ID, Name: r.Name, MemberCount: r.Members, CreatedAt: r.CreatedAt}
	}
	return list
}
