package chat

// A room event, as the core moves it: from a session to the cluster
// (Publish), from the cluster to the room's local members (Receive,
// deliver.go). It holds the event's fields, not any encoding of them: each
// protocol adapter encodes it once per node for its members (Protocol.Frame).
// The one encoding the core makes itself is the reference app's JSON object
// (Reference), which is the cluster's form of the event and, as it happens,
// what the reference protocol (v1) sends its clients: v1 frames those bytes
// instead of encoding the event again.

// EventKind is what a room event is.
type EventKind uint8

// The kinds of room events.
const (
	EvMessage EventKind = iota // a chat message (stored, with an offset, when the cluster keeps history)
	EvJoined                   // a user's first connection joined the room
	EvLeft                     // a user's last connection left the room
	EvTyping                   // a user is typing (never stored)
	EvResync                   // this node cannot vouch for the continuity of the room's history (Reason)
	EvOther                    // a type chatd does not know, from another node: Reference holds it as published
)

// Event is one room event.
type Event struct {
	Kind      EventKind
	screened  bool // EvMessage: the publish hook has passed it (hooks.go), or there is none
	Room      string
	Content   string // EvMessage
	Name      string // the user's display name (the reference app's username)
	UserID    string
	Timestamp string // EvMessage: ISO 8601 UTC with milliseconds
	Count     int    // EvJoined, EvLeft: the room's member count after
	Offset    uint64 // EvMessage: the offset in the room's history; 0: not stored
	Epoch     string // ... and the history's epoch
	Reason    string // EvResync: gap or epoch

	skip *Session // the publishing connection, on this node: not delivered to

	// ref is the reference JSON after Headroom free bytes (built once);
	// refFrame is ref framed by the first framing that asked (cached).
	ref      []byte
	refFrame []byte
}

// Reference returns the event's JSON object in the reference app's shape
// (the cluster's body of the event; v1's message), after Headroom free
// bytes, or nil for kinds the cluster never carries (EvResync). Events of
// unknown types (EvOther) and typing notices from the cluster hold the
// object as published, minus the header members.
func (ev *Event) Reference() []byte {
	if ev.ref != nil {
		return ev.ref
	}
	switch ev.Kind {
	case EvMessage:
		ev.ref = Encode(&refChat{Type: "message", Content: ev.Content, Username: ev.Name, UserID: ev.UserID,
			Timestamp: ev.Timestamp})
	case EvJoined:
		ev.ref = Encode(&refPresence{Type: refUserJoined, Username: ev.Name, UserID: ev.UserID, MemberCount: ev.Count})
	case EvLeft:
		ev.ref = Encode(&refPresence{Type: refUserLeft, Username: ev.Name, UserID: ev.UserID, MemberCount: ev.Count})
	case EvTyping:
		// Typing is v2's. The reference app has no such type: its nodes
		// pass it on as any type they do not know (their client ignores it).
		ev.ref = Encode(&refTyping{Type: "typing", Username: ev.Name, UserID: ev.UserID})
	}
	return ev.ref
}

// FramedReference returns Reference framed by f, framing it once: the
// first framing that asks writes its header into the headroom; any other
// gets a copy. Nil when the event has no reference form.
func (ev *Event) FramedReference(f Framing) []byte {
	if ev.refFrame != nil {
		return ev.refFrame
	}
	ref := ev.Reference()
	if ref == nil {
		return nil
	}
	ev.refFrame = f.Frame(ref)
	return ev.refFrame
}

// Body returns the event's body for the cluster: the reference JSON.
func (ev *Event) Body() []byte { return ev.Reference()[Headroom:] }

// The reference app's event shapes (field names and order exact), which
// are also the cluster's.
const (
	refUserJoined = "userJoined"
	refUserLeft   = "userLeft"
)

type refChat struct {
	Type      string `json:"type"`
	Content   string `json:"content"`
	Username  string `json:"username"`
	UserID    string `json:"userId"`
	Timestamp string `json:"timestamp"`
}

type refPresence struct {
	Type        string `json:"type"`
	Username    string `json:"username"`
	UserID      string `json:"userId"`
	MemberCount int    `json:"memberCount"`
}

type refTyping struct {
	Type     string `json:"type"`
	Username string `json:"username"`
	UserID   string `json:"userId"`
}
