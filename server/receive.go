package server

import (
	"errors"

	"github.com/bytedance/sonic"
	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/broker"
)

// The node as its broker sees it (broker.Receiver): room events coming back
// from the cluster are decoded here, once per node, off the event loops, and
// fanned out to the room's local members.

// localEvent is a room event published by this node, in the form it is
// delivered in: its client frame, already encoded, and the user that must
// not receive it. An in-process broker hands it back through Deliver.
type localEvent struct {
	frame   []byte
	exclude string
}

// roomEvent wraps a client frame for the broker: the frame's JSON is the
// event's body (no copy), the frame itself its local form.
func roomEvent(room string, frame []byte, exclude string) *broker.Event {
	return &broker.Event{Room: room, Body: frame[frameHeaderLen(frame):], Exclude: exclude,
		Local: &localEvent{frame: frame, exclude: exclude}}
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

// Deliver implements broker.Receiver: an event published on this node,
// delivered in-process.
func (s *Server) Deliver(ev *broker.Event) {
	le := ev.Local.(*localEvent)
	s.deliver(ev.Room, le.frame, le.exclude)
}

var errNotEvent = errors.New("not a JSON object with a string type")

// Receive implements broker.Receiver: it decodes one payload from the
// cluster and delivers it.
func (s *Server) Receive(room string, payload string) error {
	frame, exclude, unknown, err := decodeEvent(payload)
	if err != nil {
		return err
	}
	if unknown {
		s.metrics.forwardedUnknown()
	}
	s.deliver(room, frame, exclude)
	return nil
}

// decodeEvent turns a cluster payload into the client frame and the user to
// exclude, once per node.
//
// Known types (message, userJoined, userLeft) are re-encoded from their
// structs, so clients see exactly the reference field set whatever extra
// fields the publisher added. Other types (a newer reference app, say) are
// forwarded as the publisher wrote them minus excludeUserId and origin,
// keeping the field order, as a reference node would (unknown is true).
func decodeEvent(payload string) (frame []byte, exclude string, unknown bool, err error) {
	var env Envelope
	if err := envelopeAPI.UnmarshalFromString(payload, &env); err != nil {
		return nil, "", false, err
	}
	if env.Type == "" {
		return nil, "", false, errNotEvent
	}
	switch env.Type {
	case TypeMessage:
		frame = frameOf(&Chat{Type: env.Type, Content: env.Content, Username: env.Username, UserID: env.UserID,
			Timestamp: env.Timestamp})
	case TypeUserJoined, TypeUserLeft:
		n := 0
		if env.MemberCount != nil {
			n = *env.MemberCount
		}
		frame = frameOf(&Presence{Type: env.Type, Username: env.Username, UserID: env.UserID, MemberCount: n})
	default:
		node, err := sonic.GetFromString(payload)
		if err == nil {
			_, err = node.Unset("excludeUserId")
		}
		if err == nil {
			_, err = node.Unset("origin")
		}
		var js []byte
		if err == nil {
			js, err = node.MarshalJSON()
		}
		if err != nil {
			return nil, "", false, err
		}
		return rawFrame(js), env.ExcludeUserID, true, nil
	}
	return frame, env.ExcludeUserID, false, nil
}

// PresenceBody implements broker.Receiver: userJoined or userLeft, as the
// reference app publishes them.
func (s *Server) PresenceBody(joined bool, m broker.Member, count int) []byte {
	typ := TypeUserLeft
	if joined {
		typ = TypeUserJoined
	}
	frame := frameOf(&Presence{Type: typ, Username: m.Name, UserID: m.User, MemberCount: count})
	return frame[frameHeaderLen(frame):]
}

// deliver writes one event's frame to every local member of the room except
// the excluded user.
func (s *Server) deliver(room string, frame []byte, excludeUserID string) {
	var ex *eventloop.Conn
	if excludeUserID != "" {
		if sess := s.users.get(excludeUserID); sess != nil {
			ex = sess.c
		}
	}
	r := s.rooms.Get(room)
	if r == nil {
		return
	}
	s.eng.Fanout(frame, r, ex)
	s.metrics.fanout(r.LocalCount())
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
