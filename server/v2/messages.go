package v2

import "encoding/json"

// Protocol v2's messages. Requests may carry an id; each request with an id
// gets exactly one reply with it, {"type":"ok","id":..,...} or an error.
// Pushes carry roomId and no id.

// Subprotocol is the WebSocket subprotocol that selects v2.
const Subprotocol = "chatd.v2"

// v2 request types.
const (
	TypeHello    = "hello"
	TypeLeave    = "leave"
	TypePublish  = "publish"
	TypePresence = "presence"
	TypeTyping   = "typing"
	TypeRooms    = "rooms"
	TypeHistory  = "history"
)

// v2 reply and push types.
const (
	TypeOK     = "ok"
	TypeJoined = "joined"
	TypeLeft   = "left"
	TypeResync = "resync"
)

// Request is a v2 request. Only the fields of its type are meaningful.
type Request struct {
	Type     string          `json:"type"`
	ID       json.RawMessage `json:"id"` // a number or a string, echoed in the reply
	Name     string          `json:"name"`
	Token    string          `json:"token"`
	RoomID   string          `json:"roomId"`
	RoomName string          `json:"roomName"`
	Content  string          `json:"content"`
	History  int             `json:"history"`
	Since    *Position       `json:"since"`
	Before   uint64          `json:"before"`
	Limit    int             `json:"limit"`
	After    string          `json:"after"`
	Prefix   string          `json:"prefix"`
}

// Position is a place in a room's history: an epoch and an offset in it.
type Position struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
}

// OKReply is the reply to a request with an id that succeeded, for requests
// whose result has no fields.
type OKReply struct {
	Type string          `json:"type"`
	ID   json.RawMessage `json:"id"`
}

// HelloOK answers hello.
type HelloOK struct {
	Type   string          `json:"type"`
	ID     json.RawMessage `json:"id"`
	UserID string          `json:"userId"`
	Name   string          `json:"name"`
	Node   string          `json:"node"`
}

// JoinOK answers join.
type JoinOK struct {
	Type        string          `json:"type"`
	ID          json.RawMessage `json:"id,omitempty"`
	RoomID      string          `json:"roomId"`
	MemberCount int             `json:"memberCount"`
	Epoch       string          `json:"epoch"`
	Offset      uint64          `json:"offset"`
	Messages    []Message       `json:"messages"`
	Recovered   *bool           `json:"recovered,omitempty"`
}

// PublishOK answers publish.
type PublishOK struct {
	Type      string          `json:"type"`
	ID        json.RawMessage `json:"id"`
	Offset    uint64          `json:"offset,omitempty"`
	Timestamp string          `json:"timestamp"`
	Content   string          `json:"content,omitempty"` // the publish hook's replacement, when it replaced the content
}

// HistoryOK answers history.
type HistoryOK struct {
	Type     string          `json:"type"`
	ID       json.RawMessage `json:"id"`
	Messages []Message       `json:"messages"`
}

// Member is one entry of a presence list.
type Member struct {
	UserID string `json:"userId"`
	Name   string `json:"name"`
}

// PresenceOK answers presence.
type PresenceOK struct {
	Type        string          `json:"type"`
	ID          json.RawMessage `json:"id"`
	RoomID      string          `json:"roomId"`
	MemberCount int             `json:"memberCount"`
	Members     []Member        `json:"members"`
	Truncated   bool            `json:"truncated,omitempty"`
}

// RoomsOK answers rooms: one page of the room list, by room id.
type RoomsOK struct {
	Type  string          `json:"type"`
	ID    json.RawMessage `json:"id"`
	Rooms []RoomInfo      `json:"rooms"`
	Next  string          `json:"next,omitempty"` // the after of the next page; absent on the last
}

// Message is a chat message pushed to v2 members, and an entry of
// messages in join and history results.
type Message struct {
	Type      string `json:"type"`
	RoomID    string `json:"roomId"`
	Offset    uint64 `json:"offset,omitempty"`
	Epoch     string `json:"epoch,omitempty"` // the history's epoch the offset belongs to
	Content   string `json:"content"`
	UserID    string `json:"userId"`
	Name      string `json:"name"`
	Timestamp string `json:"timestamp"`
}

// PresencePush is a joined or left push.
type PresencePush struct {
	Type        string `json:"type"`
	RoomID      string `json:"roomId"`
	UserID      string `json:"userId"`
	Name        string `json:"name"`
	MemberCount int    `json:"memberCount"`
}

// TypingPush is a typing push.
type TypingPush struct {
	Type   string `json:"type"`
	RoomID string `json:"roomId"`
	UserID string `json:"userId"`
	Name   string `json:"name"`
}

// ResyncPush tells a member the server cannot vouch for the room's continuity.
type ResyncPush struct {
	Type   string `json:"type"`
	RoomID string `json:"roomId"`
	Reason string `json:"reason"`
}

// Error is a refused request; ID is the request's, if it had one.
type Error struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id,omitempty"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
}

// RoomInfo is one entry of a room list.
type RoomInfo struct {
	RoomID      string `json:"roomId"`
	Name        string `json:"name"`
	MemberCount int    `json:"memberCount"`
	CreatedAt   string `json:"createdAt"`
}

// The request types shared with protocol v1.
const (
	TypeJoin    = "join"
	TypeMessage = "message"
	TypeError   = "error"
	TypeRefresh = "refresh"
)

// Types lists the message types, for pretouching the codec.
func Types() []any {
	return []any{Request{}, OKReply{}, HelloOK{}, JoinOK{}, PublishOK{}, HistoryOK{}, PresenceOK{}, RoomsOK{},
		Message{}, PresencePush{}, TypingPush{}, ResyncPush{}, Error{}}
}
