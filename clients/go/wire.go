package chatdclient

import (
	"encoding/json"
	"time"
)

// The wire form of protocol v2 (docs/protocol-v2.md): one JSON
// object per WebSocket text message.

// Subprotocol is the WebSocket subprotocol that selects protocol v2.
const Subprotocol = "chatd.v2"

// Request types.
const (
	reqHello    = "hello"
	reqJoin     = "join"
	reqLeave    = "leave"
	reqPublish  = "publish"
	reqHistory  = "history"
	reqPresence = "presence"
	reqTyping   = "typing"
	reqRooms    = "rooms"
	reqRefresh  = "refresh"
)

// Reply and push types.
const (
	typeOK      = "ok"
	typeError   = "error"
	typeMessage = "message"
	typeJoined  = "joined"
	typeLeft    = "left"
	typeTyping  = "typing"
	typeResync  = "resync"
)

// request is every request's fields; each type uses some of them.
type request struct {
	Type     string    `json:"type"`
	ID       int64     `json:"id,omitempty"`
	Name     string    `json:"name,omitempty"`
	Token    string    `json:"token,omitempty"`
	RoomID   string    `json:"roomId,omitempty"`
	RoomName string    `json:"roomName,omitempty"`
	Content  string    `json:"content,omitempty"`
	History  int       `json:"history,omitempty"`
	Since    *Position `json:"since,omitempty"`
	Before   uint64    `json:"before,omitempty"`
	Limit    int       `json:"limit,omitempty"`
	After    string    `json:"after,omitempty"`
	Prefix   string    `json:"prefix,omitempty"`
}

// inbound is every reply's and push's fields.
type inbound struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Reason  string          `json:"reason"`

	UserID string `json:"userId"`
	Name   string `json:"name"`
	Node   string `json:"node"`

	RoomID      string        `json:"roomId"`
	MemberCount int           `json:"memberCount"`
	Epoch       string        `json:"epoch"`
	Offset      uint64        `json:"offset"`
	Messages    []wireMessage `json:"messages"`
	Recovered   *bool         `json:"recovered"`
	Content     string        `json:"content"`
	Timestamp   string        `json:"timestamp"`
	Members     []Member      `json:"members"`
	Truncated   bool          `json:"truncated"`
	Rooms       []RoomInfo    `json:"rooms"`
	Next        string        `json:"next"`
}

// wireMessage is a message push, and an entry of a join's or history's messages.
type wireMessage struct {
	RoomID    string `json:"roomId"`
	Offset    uint64 `json:"offset"`
	Epoch     string `json:"epoch"`
	Content   string `json:"content"`
	UserID    string `json:"userId"`
	Name      string `json:"name"`
	Timestamp string `json:"timestamp"`
}

// pushedMessage is the message of a message push.
func pushedMessage(f *inbound) wireMessage {
	return wireMessage{RoomID: f.RoomID, Offset: f.Offset, Epoch: f.Epoch, Content: f.Content, UserID: f.UserID,
		Name: f.Name, Timestamp: f.Timestamp}
}

// message converts a wire message; room fills in a missing roomId.
func (m *wireMessage) message(room string) Message {
	out := Message{RoomID: m.RoomID, Offset: m.Offset, Epoch: m.Epoch, Content: m.Content, UserID: m.UserID,
		Name: m.Name, Timestamp: parseTime(m.Timestamp)}
	if out.RoomID == "" {
		out.RoomID = room
	}
	return out
}

// parseTime reads the server's ISO 8601 UTC timestamps; zero if malformed.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Position is a place in a room's history: an epoch (one life of the room's
// history) and an offset in it (stored messages are numbered 1, 2, 3, … with
// no hole). Room.Position gives it; JoinOptions.Since resumes from it.
type Position struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
}

// Message is a chat message of a room.
type Message struct {
	RoomID    string
	Offset    uint64 // its place in the room's history; 0 on a server that keeps none
	Epoch     string // the history's epoch the offset belongs to
	Content   string
	UserID    string
	Name      string
	Timestamp time.Time // as the server stamped it (milliseconds, UTC)
}

// Member is a user in a room.
type Member struct {
	UserID string `json:"userId"`
	Name   string `json:"name"`
}

// RoomInfo is one entry of the room list.
type RoomInfo struct {
	RoomID      string `json:"roomId"`
	Name        string `json:"name"`
	MemberCount int    `json:"memberCount"`
	CreatedAt   string `json:"createdAt"` // ISO 8601, as the server sent it
}
