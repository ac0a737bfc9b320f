package chat

import (
	"errors"

	"github.com/bytedance/sonic"
	"github.com/chatd/chatd/server/broker"
)

// The cluster's form of a room event: the reference app's JSON object plus
// the broker's header members (excludeUserId, as the reference app
// publishes; ours: origin, originConn, offset, epoch). Every node decodes a
// payload once (decodeEvent), whatever protocols its members speak.

// envelope is a room event as published: the client-visible fields of any
// event type plus the header members. Decoding a reference node's payload
// yields this union; each protocol re-encodes the event from it by kind.
type envelope struct {
	Type          string `json:"type"`
	Content       string `json:"content,omitempty"`
	Username      string `json:"username,omitempty"`
	UserID        string `json:"userId,omitempty"`
	Timestamp     string `json:"timestamp,omitempty"`
	MemberCount   *int   `json:"memberCount,omitempty"`
	ExcludeUserID string `json:"excludeUserId,omitempty"`
	Origin        string `json:"origin,omitempty"`     // ours: the publishing node
	OriginConn    uint64 `json:"originConn,omitempty"` // ours: the publishing connection on that node
	Offset        uint64 `json:"offset,omitempty"`     // ours: a stored message's offset in the room's history
	Epoch         string `json:"epoch,omitempty"`      // ours: ... and the history's epoch
}

var errNotEvent = errors.New("not a JSON object with a string type")

// decodeEvent decodes a cluster payload once per node: the event, the node
// and connection that published it (when a chatd node did), and the user to
// leave out.
//
// Known types (message, userJoined, userLeft, typing) are kept as fields,
// so that clients see exactly their protocol's field set whatever extra
// fields the publisher added. Other types (a newer reference app, say) are
// kept as the publisher wrote them minus the header members, in the same
// field order, as a reference node would forward them (and so are typing
// notices, for the reference protocol: the reference app has no typing).
func decodeEvent(room, payload string) (ev *Event, origin string, conn uint64, exclude string, err error) {
	var env envelope
	if err := envelopeAPI.UnmarshalFromString(payload, &env); err != nil {
		return nil, "", 0, "", err
	}
	if env.Type == "" {
		return nil, "", 0, "", errNotEvent
	}
	ev = &Event{Room: room, Content: env.Content, Name: env.Username, UserID: env.UserID,
		Timestamp: env.Timestamp, Offset: env.Offset, Epoch: env.Epoch}
	if env.MemberCount != nil {
		ev.Count = *env.MemberCount
	}
	switch env.Type {
	case "message":
		ev.Kind = EvMessage
	case refUserJoined:
		ev.Kind = EvJoined
	case refUserLeft:
		ev.Kind = EvLeft
	case "typing":
		ev.Kind = EvTyping
		fallthrough // the reference protocol gets it as published, like any type it does not know
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
		if ev.Kind != EvTyping {
			ev.Kind = EvOther
		}
		ev.ref = make([]byte, Headroom+len(js))
		copy(ev.ref[Headroom:], js)
	}
	return ev, env.Origin, env.OriginConn, env.ExcludeUserID, nil
}

// DecodeMessages turns stored payloads (a history read) into message
// events, oldest first; payloads that are not messages are skipped (and
// logged).
func (n *Node) DecodeMessages(room string, payloads []string) []*Event {
	out := make([]*Event, 0, len(payloads))
	for _, p := range payloads {
		ev, _, _, _, err := decodeEvent(room, p)
		if err != nil || ev.Kind != EvMessage {
			n.cfg.Logger.Warn("a stored event is not a message", "room", room, "err", err)
			continue
		}
		out = append(out, ev)
	}
	return out
}
