package chat

import (
	"time"

	"github.com/chatd/chatd/server/broker"
)

// Message builds the session's chat message to roomID (stamped now), which
// the session must be in. The protocol may encode it (an echo) before
// Publish hands it to the cluster.
func (s *Session) Message(roomID, content string) (*Event, *Error) {
	if s.in(roomID) == nil {
		return nil, NotIn(roomID)
	}
	if content == "" {
		return nil, ErrBadContent
	}
	return &Event{Kind: EvMessage, Room: roomID, Content: content, Name: s.Name(), UserID: s.UserID(),
		Timestamp: JSTime(time.Now()), skip: s}, nil
}

// Publish hands the session's message to the cluster: it is stored in the
// room's history and delivered to every member connection but this one.
// A message not screened yet goes to the publish hook first (Screen): the
// session is busy until it answered. ok, if not nil, runs on the loop with
// the message's offset once it is stored (0 when the cluster keeps no
// history); fail runs on the loop if it could not be published (or the
// hook refused it). Neither runs once the connection closed.
func (s *Session) Publish(ev *Event, ok func(offset uint64), fail func(*Error)) {
	if !ev.screened && s.node.hooks().PublishOn() {
		s.Screen(ev, func(e *Error) {
			if e != nil {
				fail(e)
				return
			}
			s.Publish(ev, ok, fail)
		})
		return
	}
	s.node.m.chatMessages.Inc()
	s.publish(ev, func(offset uint64, err error) {
		switch {
		case isStorageFull(err):
			s.Exec(func() { fail(errStorageFull) })
		case err != nil:
			s.Exec(func() { fail(errNotDelivered) })
		case ok != nil:
			s.Exec(func() { ok(offset) })
		}
	})
}

// publish hands one of this connection's events to the broker: reference
// nodes leave the user out, this node the connection. Messages are stored
// in the room's history.
func (s *Session) publish(ev *Event, done func(uint64, error)) {
	s.node.broker.Publish(&broker.Event{Room: ev.Room, Body: ev.Body(), Exclude: s.UserID(), Conn: s.id, Local: ev,
		Store: ev.Kind == EvMessage}, done)
}

// PublishSystem publishes a message as the system user (the server API): it
// goes the way members' messages go, stored, to every member on every node.
// done runs on any goroutine with the message's offset or the error.
func (n *Node) PublishSystem(roomID, content, name string, done func(ev *Event, offset uint64, err error)) {
	ev := &Event{Kind: EvMessage, Room: roomID, Content: content, Name: name, UserID: SystemUserID,
		Timestamp: JSTime(time.Now())}
	n.broker.Publish(&broker.Event{Room: roomID, Body: ev.Body(), Local: ev, Store: true},
		func(offset uint64, err error) { done(ev, offset, err) })
}
