package server

import (
	"errors"

	"github.com/bytedance/sonic"
	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/broker"
)

// Room events, as this node delivers them. An event comes from the cluster
// (Receive: a payload decoded once per node, off the event loops) or from
// this node through an in-process broker (Deliver: the publisher's own
// event, not encoded or decoded at all). Either way it is encoded at most
// once per protocol its room's local members speak, and each encoding is
// fanned out to those members, one task per event loop.

// eventKind is what a room event is.
type eventKind uint8

const (
	evMessage eventKind = iota
	evJoined
	evLeft
	evTyping
	evOther // a type chatd does not know: forwarded to v1 members as published
)

// event is one room event.
type event struct {
	kind      eventKind
	room      string
	content   string
	username  string
	userID    string
	timestamp string
	count     int      // joined, left: the room's member count after
	offset    uint64   // a stored message's offset; 0: none
	epoch     string   // ... and its history's epoch
	skip      *session // the publishing connection, on this node: not delivered to
	v1        []byte   // the v1 frame, when already encoded (a message's echo, an unknown type)
}

// v1Frame returns the event's v1 frame (the reference app's form), or nil
// for events v1 clients do not get.
func (ev *event) v1Frame() []byte {
	if ev.v1 != nil {
		return ev.v1
	}
	switch ev.kind {
	case evMessage:
		ev.v1 = frameOf(&Chat{Type: TypeMessage, Content: ev.content, Username: ev.username, UserID: ev.userID,
			Timestamp: ev.timestamp})
	case evJoined:
		ev.v1 = frameOf(&Presence{Type: TypeUserJoined, Username: ev.username, UserID: ev.userID, MemberCount: ev.count})
	case evLeft:
		ev.v1 = frameOf(&Presence{Type: TypeUserLeft, Username: ev.username, UserID: ev.userID, MemberCount: ev.count})
	case evTyping:
		// Typing is v2's. v1 has no such type: its members get it as a
		// reference node passes on any type it does not know (the reference
		// client ignores it).
		ev.v1 = frameOf(&Typing{Type: TypeTyping, Username: ev.username, UserID: ev.userID})
	}
	return ev.v1
}

// body returns the event's body for the cluster: the reference shape.
func (ev *event) body() []byte {
	f := ev.v1Frame()
	return f[frameHeaderLen(f):]
}

// v2Frame encodes the event for v2 members, or returns nil for events they
// do not get.
func (ev *event) v2Frame() []byte {
	switch ev.kind {
	case evMessage:
		return frameOf(ev.messageV2())
	case evJoined, evLeft:
		typ := TypeJoined
		if ev.kind == evLeft {
			typ = TypeLeft
		}
		return frameOf(&PresenceV2{Type: typ, RoomID: ev.room, UserID: ev.userID, Name: ev.username, MemberCount: ev.count})
	case evTyping:
		return frameOf(&TypingV2{Type: TypeTyping, RoomID: ev.room, UserID: ev.userID, Name: ev.username})
	}
	return nil
}

// messageV2 is a message event in v2's shape.
func (ev *event) messageV2() *MessageV2 {
	return &MessageV2{Type: TypeMessage, RoomID: ev.room, Offset: ev.offset, Epoch: ev.epoch, Content: ev.content, UserID: ev.userID,
		Name: ev.username, Timestamp: ev.timestamp}
}

// Deliver implements broker.Receiver: an event published on this node,
// delivered in-process.
func (s *Server) Deliver(ev *broker.Event) {
	if c, ok := ev.Local.(*controlEvent); ok {
		s.receiveControl(c) // control.go
		return
	}
	e := ev.Local.(*event)
	e.offset, e.epoch = ev.Delivered.Offset, ev.Delivered.Epoch
	s.deliver(e)
}

// Resync implements broker.Receiver: the room's v2 members are told to
// recover with since (v1 has no such notion).
func (s *Server) Resync(room, reason string) {
	s.metrics.resyncPushed()
	r := s.rooms.Get(room)
	if r == nil || !r.HasClass(classV2) {
		return
	}
	s.eng.Fanout(frameOf(&ResyncV2{Type: TypeResync, RoomID: room, Reason: reason}), r.Class(classV2), nil)
}

var errNotEvent = errors.New("not a JSON object with a string type")

// Receive implements broker.Receiver: it decodes one payload from the
// cluster and delivers it.
func (s *Server) Receive(room string, payload string) error {
	if room == controlRoom {
		c, err := decodeControl(payload) // control.go
		if err == nil {
			s.receiveControl(c)
		}
		return err
	}
	ev, origin, conn, exclude, err := decodeEvent(room, payload)
	if err != nil {
		return err
	}
	if ev.kind == evOther {
		s.metrics.forwardedUnknown()
	}
	switch {
	case conn != 0 && origin == s.cfg.NodeID:
		ev.skip = s.conns.get(conn)
	case conn == 0 && exclude != "":
		// A reference node's event (or one of ours without a connection):
		// leave the user out, as a reference node would.
		ev.skip = s.conns.user(exclude)
	}
	s.deliver(ev)
	return nil
}

// decodeEvent decodes a cluster payload once per node: the event, the node
// and connection that published it (when a chatd node did), and the user to
// leave out.
//
// Known types (message, userJoined, userLeft, typing) are re-encoded from
// their fields, so clients see exactly the reference field set whatever
// extra fields the publisher added. Other types (a newer reference app, say)
// are forwarded to v1 members as the publisher wrote them minus
// excludeUserId, origin and originConn, keeping the field order, as a
// reference node would.
func decodeEvent(room, payload string) (ev *event, origin string, conn uint64, exclude string, err error) {
	var env Envelope
	if err := envelopeAPI.UnmarshalFromString(payload, &env); err != nil {
		return nil, "", 0, "", err
	}
	if env.Type == "" {
		return nil, "", 0, "", errNotEvent
	}
	ev = &event{room: room, content: env.Content, username: env.Username, userID: env.UserID,
		timestamp: env.Timestamp, offset: env.Offset, epoch: env.Epoch}
	if env.MemberCount != nil {
		ev.count = *env.MemberCount
	}
	switch env.Type {
	case TypeMessage:
		ev.kind = evMessage
	case TypeUserJoined:
		ev.kind = evJoined
	case TypeUserLeft:
		ev.kind = evLeft
	case TypeTyping:
		ev.kind = evTyping
		fallthrough // v1 members get it as published, like any type v1 does not know
	default:
		node, err := sonic.GetFromString(payload)
		for _, k := range []string{broker.HeaderExclude, broker.HeaderOrigin, broker.HeaderConn, broker.HeaderOffset,
			broker.HeaderEpoch} {
			if err == nil {
				_, err = node.Unset(k)
			}
		}
		var js []byte
		if err == nil {
			js, err = node.MarshalJSON()
		}
		if err != nil {
			return nil, "", 0, "", err
		}
		if ev.kind != evTyping {
			ev.kind = evOther
		}
		ev.v1 = rawFrame(js)
	}
	return ev, env.Origin, env.OriginConn, env.ExcludeUserID, nil
}

// PresenceBody implements broker.Receiver: userJoined or userLeft, as the
// reference app publishes them.
func (s *Server) PresenceBody(joined bool, m broker.Member, count int) []byte {
	ev := &event{kind: evLeft, room: m.Room, username: m.Name, userID: m.User, count: count}
	if joined {
		ev.kind = evJoined
	}
	return ev.body()
}

// deliver writes one event to every local member of its room but the
// publishing connection, in the form of each member's protocol.
func (s *Server) deliver(ev *event) {
	r := s.rooms.Get(ev.room)
	if r == nil {
		return
	}
	var skip *eventloop.Conn
	if ev.skip != nil {
		skip = ev.skip.c
	}
	if r.HasClass(classV1) {
		if f := ev.v1Frame(); f != nil {
			s.eng.Fanout(f, r.Class(classV1), skip)
		}
	}
	if r.HasClass(classV2) {
		if f := ev.v2Frame(); f != nil {
			s.eng.Fanout(f, r.Class(classV2), skip)
		}
	}
	s.metrics.fanout(r.LocalCount())
}

// frameHeaderLen is the length of an unmasked server frame's header.
func frameHeaderLen(frame []byte) int {
	switch frame[1] & 0x7f {
	case 126:
		return 4
	case 127:
		return 10
	}
	return 2
}

// rawFrame wraps a JSON text in a text frame.
func rawFrame(js []byte) []byte {
	h := eventloop.FrameHeaderSize(len(js))
	f := make([]byte, h+len(js))
	eventloop.PutFrameHeader(f[:h], 0x1, len(js))
	copy(f[h:], js)
	return f
}

// envelopeAPI decodes cluster payloads. Unlike jsonAPI it does not copy
// strings: the payload is an immutable Go string owned by the event.
var envelopeAPI = sonic.Config{}.Froze()

// decodeMessages turns stored payloads into v2 messages (oldest first);
// payloads that are not messages are skipped.
func (s *Server) decodeMessages(room string, payloads []string) []MessageV2 {
	out := make([]MessageV2, 0, len(payloads))
	for _, p := range payloads {
		ev, _, _, _, err := decodeEvent(room, p)
		if err != nil || ev.kind != evMessage {
			s.cfg.Logger.Warn("a stored event is not a message", "room", room, "err", err)
			continue
		}
		out = append(out, *ev.messageV2())
	}
	return out
}
