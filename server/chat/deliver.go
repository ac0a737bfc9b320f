package chat

import (
	"strings"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/broker"
)

// Room events, as this node delivers them. An event comes from the cluster
// (Receive: a payload decoded once per node, off the event loops) or from
// this node through an in-process broker (Deliver: the publisher's own
// event, not encoded or decoded at all). Either way each protocol whose
// members are in the room encodes it once (Protocol.Frame), and each
// encoding is fanned out to those members, one task per event loop.

// Deliver implements broker.Receiver: an event published on this node,
// delivered in-process.
func (n *Node) Deliver(ev *broker.Event) {
	if c, ok := ev.Local.(*controlEvent); ok {
		n.receiveControl(c)
		return
	}
	if m, ok := ev.Local.(channelMsg); ok {
		if h := n.channel(ev.Room); h != nil {
			h(m.payload) // channels.go
		}
		return
	}
	e := ev.Local.(*Event)
	e.Offset, e.Epoch = ev.Delivered.Offset, ev.Delivered.Epoch
	n.deliver(e)
}

// Resync implements broker.Receiver: the room's members are told to
// recover (protocols without recovery ignore it).
func (n *Node) Resync(room, reason string) {
	n.m.resyncs.Inc()
	n.deliver(&Event{Kind: EvResync, Room: room, Reason: reason})
}

// Receive implements broker.Receiver: it decodes one payload from the
// cluster and delivers it.
func (n *Node) Receive(room string, payload string) error {
	if room == controlRoom {
		c, err := decodeControl(payload)
		if err == nil {
			n.receiveControl(c)
		}
		return err
	}
	if strings.HasPrefix(room, ChannelPrefix) {
		if h := n.channel(room); h != nil {
			h(payload) // channels.go
		}
		return nil
	}
	ev, origin, conn, exclude, err := decodeEvent(room, payload)
	if err != nil {
		return err
	}
	if ev.Kind == EvOther {
		n.m.unknownEvents.Inc()
	}
	switch {
	case conn != 0 && origin == n.cfg.NodeID:
		ev.skip = n.conns.get(conn)
	case conn == 0 && exclude != "":
		// A reference node's event (or one of ours without a connection):
		// leave the user out, as a reference node would.
		ev.skip = n.conns.user(exclude)
	}
	n.deliver(ev)
	return nil
}

// PresenceBody implements broker.Receiver: userJoined or userLeft, as the
// reference app publishes them.
func (n *Node) PresenceBody(joined bool, m broker.Member, count int) []byte {
	ev := &Event{Kind: EvLeft, Room: m.Room, Name: m.Name, UserID: m.User, Count: count}
	if joined {
		ev.Kind = EvJoined
	}
	return ev.Body()
}

// deliver writes one event to every local member of its room but the
// publishing connection, in the form of each member's protocol.
func (n *Node) deliver(ev *Event) {
	if ev.Kind == EvJoined || ev.Kind == EvLeft {
		// The room's members changed, here or elsewhere: a presence asked
		// after this notice must not be answered from an older read.
		n.forgetPresence(ev.Room)
	}
	r := n.rooms.Get(ev.Room)
	if r == nil {
		return
	}
	var skip *eventloop.Conn
	if ev.skip != nil {
		skip = ev.skip.c
	}
	for class, p := range n.protos {
		if !r.HasClass(class) {
			continue
		}
		if f := p.Frame(ev); f != nil {
			n.eng.Fanout(f, r.Class(class), skip)
		}
	}
	if ev.Kind != EvResync {
		n.m.fanoutSize.Observe(float64(r.LocalCount()))
	}
}
