package chat

import (
	"time"

	"github.com/bytedance/sonic"
	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/broker"
)

// Cluster control: commands one node sends every node, such as the server
// API's "disconnect this user". They travel as events of a control room that
// every node subscribes to, through the broker seam unchanged (bytes in,
// bytes out). Its id holds a control character, which checkName refuses in
// every client's roomId: no client can join it, hear it or publish to it.
const controlRoom = "\x00chatd-control"

// controlDisconnect is the command that closes a user's connections.
const controlDisconnect = "chatd.disconnect"

// controlEvent is a control room event.
type controlEvent struct {
	Type   string `json:"type"`
	UserID string `json:"userId"`
}

// subscribeControl subscribes the node to the control room, again every
// second while the cluster is unreachable (once subscribed, the broker keeps
// the subscription across reconnects).
func (n *Node) subscribeControl() {
	n.broker.Subscribe(controlRoom, func(err error) {
		if err == nil {
			return
		}
		n.cfg.Logger.Debug("control room not subscribed yet; retrying", "err", err)
		time.AfterFunc(time.Second, func() {
			if !n.draining.Load() {
				n.subscribeControl()
			}
		})
	})
}

// publishControl sends a command to every node, this one included.
func (n *Node) publishControl(ev *controlEvent, failed func(error)) {
	body, err := sonic.Marshal(ev)
	if err != nil {
		failed(err)
		return
	}
	n.broker.Publish(&broker.Event{Room: controlRoom, Body: body, Local: ev}, func(_ uint64, err error) {
		if err != nil && failed != nil {
			failed(err)
		}
	})
}

// receiveControl runs a command that reached this node (Receive: from the
// cluster; Deliver: in-process).
func (n *Node) receiveControl(ev *controlEvent) {
	switch ev.Type {
	case controlDisconnect:
		n.disconnectLocal(ev.UserID)
	default:
		n.cfg.Logger.Debug("unknown control command", "type", ev.Type)
	}
}

// decodeControl decodes a control payload from the cluster.
func decodeControl(payload string) (*controlEvent, error) {
	var ev controlEvent
	if err := envelopeAPI.UnmarshalFromString(payload, &ev); err != nil {
		return nil, err
	}
	if ev.Type == "" {
		return nil, errNotEvent
	}
	return &ev, nil
}

// disconnectLocal closes this node's connections of user (1008): the
// connection of a random user id, and every connection whose token (or
// the connect hook) names the user.
func (n *Node) disconnectLocal(user string) {
	list := append(n.ident.tokens.sessionsOf(user), n.hk.sessionsOf(user)...)
	if sess := n.conns.user(user); sess != nil {
		list = append(list, sess)
	}
	for _, sess := range list {
		sess.exec(func() {
			if !sess.closed && sess.c.Open() {
				n.m.disconnects.Inc()
				sess.c.Close(eventloop.ClosePolicy, "disconnected by the server")
			}
		})
	}
}

// DisconnectUser closes a user's connections on every node (1008): a
// control event each node acts on. failed, if not nil, is called (on any
// goroutine) when the command could not be published.
func (n *Node) DisconnectUser(userID string, failed func(error)) {
	n.publishControl(&controlEvent{Type: controlDisconnect, UserID: userID}, failed)
}
