package server

import (
	"encoding/json"
)

// Wire protocol v2, chatd's own (DESIGN §7): selected by the WebSocket
// subprotocol chatd.v2. Requests may carry an id; each request with an id
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

// RequestV2 is a v2 request. Only the fields of its type are meaningful.
type RequestV2 struct {
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
	Messages    []MessageV2     `json:"messages"`
	Recovered   *bool           `json:"recovered,omitempty"`
}

// PublishOK answers publish.
type PublishOK struct {
	Type      string          `json:"type"`
	ID        json.RawMessage `json:"id"`
	Offset    uint64          `json:"offset,omitempty"`
	Timestamp string          `json:"timestamp"`
}

// HistoryOK answers history.
type HistoryOK struct {
	Type     string          `json:"type"`
	ID       json.RawMessage `json:"id"`
	Messages []MessageV2     `json:"messages"`
}

// MemberV2 is one entry of a presence list.
type MemberV2 struct {
	UserID string `json:"userId"`
	Name   string `json:"name"`
}

// PresenceOK answers presence.
type PresenceOK struct {
	Type        string          `json:"type"`
	ID          json.RawMessage `json:"id"`
	RoomID      string          `json:"roomId"`
	MemberCount int             `json:"memberCount"`
	Members     []MemberV2      `json:"members"`
	Truncated   bool            `json:"truncated,omitempty"`
}

// RoomsOK answers rooms: one page of the room list, by room id.
type RoomsOK struct {
	Type  string          `json:"type"`
	ID    json.RawMessage `json:"id"`
	Rooms []RoomInfo      `json:"rooms"`
	Next  string          `json:"next,omitempty"` // the after of the next page; absent on the last
}

// MessageV2 is a chat message pushed to v2 members, and an entry of
// messages in join and history results.
type MessageV2 struct {
	Type      string `json:"type"`
	RoomID    string `json:"roomId"`
	Offset    uint64 `json:"offset,omitempty"`
	Epoch     string `json:"epoch,omitempty"` // the history's epoch the offset belongs to
	Content   string `json:"content"`
	UserID    string `json:"userId"`
	Name      string `json:"name"`
	Timestamp string `json:"timestamp"`
}

// PresenceV2 is a joined or left push.
type PresenceV2 struct {
	Type        string `json:"type"`
	RoomID      string `json:"roomId"`
	UserID      string `json:"userId"`
	Name        string `json:"name"`
	MemberCount int    `json:"memberCount"`
}

// TypingV2 is a typing push.
type TypingV2 struct {
	Type   string `json:"type"`
	RoomID string `json:"roomId"`
	UserID string `json:"userId"`
	Name   string `json:"name"`
}

// ResyncV2 tells a member the server cannot vouch for the room's continuity.
type ResyncV2 struct {
	Type   string `json:"type"`
	RoomID string `json:"roomId"`
	Reason string `json:"reason"`
}

// ErrorV2 is a refused request; ID is the request's, if it had one.
type ErrorV2 struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id,omitempty"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
}

// maxIDBytes bounds a request id: it is echoed, so it must stay small.
const maxIDBytes = 64

// parseRequestV2 decodes one v2 request. On error it still returns the
// request's id when it could be read, so that the error reply carries it.
func parseRequestV2(p []byte, r *RequestV2) *requestError {
	if e := checkObject(p); e != nil {
		return e
	}
	if err := decodeRequestV2(p, r); err != nil {
		return classifyV2(p, r)
	}
	return checkID(r)
}

// checkID accepts an absent id, a string or a number, of at most
// maxIDBytes; anything else is refused (and not echoed).
func checkID(r *RequestV2) *requestError {
	id := r.ID
	if len(id) == 0 {
		return nil
	}
	ok := len(id) <= maxIDBytes && (id[0] == '"' || id[0] == '-' || (id[0] >= '0' && id[0] <= '9'))
	if !ok {
		r.ID = nil
		return errBadID
	}
	return nil
}

// classifyV2 finds out what is wrong with a request that did not decode
// (the slow path, for bad requests only), keeping its id if it has a usable
// one.
func classifyV2(p []byte, r *RequestV2) *requestError {
	*r = RequestV2{}
	var m map[string]json.RawMessage
	if jsonSlowAPI.Unmarshal(p, &m) != nil {
		return errInvalidJSON
	}
	r.ID = m["id"]
	if e := checkID(r); e != nil {
		return e
	}
	var probe any
	if t, ok := m["type"]; ok {
		if jsonSlowAPI.Unmarshal(t, &probe) != nil {
			return errInvalidJSON
		}
		s, isString := probe.(string)
		if !isString {
			return errBadType
		}
		r.Type = s
	}
	for _, f := range []struct {
		name string
		kind byte // 's' string, 'n' number, 'o' object
	}{{"name", 's'}, {"token", 's'}, {"roomId", 's'}, {"roomName", 's'}, {"content", 's'}, {"after", 's'},
		{"prefix", 's'}, {"history", 'n'}, {"before", 'n'}, {"limit", 'n'}, {"since", 'o'}} {
		raw, ok := m[f.name]
		if !ok || string(raw) == "null" {
			continue
		}
		var want string
		switch f.kind {
		case 's':
			var s string
			if jsonSlowAPI.Unmarshal(raw, &s) == nil {
				continue
			}
			want = "a string"
		case 'n':
			var n uint32
			if jsonSlowAPI.Unmarshal(raw, &n) == nil {
				continue
			}
			want = "a non-negative integer"
		case 'o':
			var pos Position
			if jsonAPI.Unmarshal(raw, &pos) == nil {
				continue
			}
			want = `an object {"epoch": string, "offset": number}`
		}
		if f.name == "content" {
			return errBadContent
		}
		return reqErr(CodeBadField, `Field "`+f.name+`" must be `+want)
	}
	return errInvalidJSON
}
