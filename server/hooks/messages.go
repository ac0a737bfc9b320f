package hooks

import (
	"encoding/json"

	"github.com/chatd/chatd/server/auth"
)

// The bodies chatd POSTs (README "Hooks and sink" shows them). Field names
// follow the client protocols' (userId, roomId, ...). Empty optional fields
// are left out.

// ConnectRequest is the body of a connect call.
type ConnectRequest struct {
	// Protocol is the connection's protocol: "v1" or "v2".
	Protocol string `json:"protocol"`
	// Addr is the client's address, as -trusted-proxies resolve it.
	Addr string `json:"addr,omitempty"`
	// Name is the name the client asked for (v2 hello's name; v1 has none
	// at connect).
	Name string `json:"name,omitempty"`
	// Token is the client's token, as it sent it (hello's token, or the
	// upgrade URL's ?token=), when chatd does not verify tokens itself.
	Token string `json:"token,omitempty"`
	// Headers holds the configured request headers of the upgrade that the
	// client sent (several lines of one header joined with ", ", or "; "
	// for Cookie).
	Headers map[string]string `json:"headers,omitempty"`
}

// JoinRequest is the body of a join call.
type JoinRequest struct {
	UserID   string `json:"userId"`
	Name     string `json:"name"`
	RoomID   string `json:"roomId"`
	RoomName string `json:"roomName,omitempty"` // the name the join gives the room if it creates it
}

// PublishRequest is the body of a publish call.
type PublishRequest struct {
	UserID  string `json:"userId"`
	Name    string `json:"name"`
	RoomID  string `json:"roomId"`
	Content string `json:"content"`
}

// size is what a request holds in memory while it waits (its strings),
// against MaxQueuedBytes; 64 bytes stand for the rest.
func (r *ConnectRequest) size() int {
	n := 64 + len(r.Addr) + len(r.Name) + len(r.Token)
	for k, v := range r.Headers {
		n += len(k) + len(v) + 16
	}
	return n
}

func (r *JoinRequest) size() int {
	return 64 + len(r.UserID) + len(r.Name) + len(r.RoomID) + len(r.RoomName)
}

func (r *PublishRequest) size() int {
	return 64 + len(r.UserID) + len(r.Name) + len(r.RoomID) + len(r.Content)
}

// answer is a backend's answer, every hook's fields in one: each hook reads
// its own and ignores the others. A field set to null counts as absent,
// except rooms (a null list is refused, as in a token's claims: it would be
// easy to read as "every room").
type answer struct {
	UserID  *string         `json:"userId"`  // connect
	Name    *string         `json:"name"`    // connect
	Rooms   json.RawMessage `json:"rooms"`   // connect
	Content *string         `json:"content"` // publish
	Error   *refusal        `json:"error"`   // every hook: a refusal
}

// refusal is the error member of an answer.
type refusal struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Outcome is what a call decided, with the failure policy applied.
type Outcome uint8

// The outcomes.
const (
	// Allowed: the backend said yes, or the call failed and the policy
	// allows.
	Allowed Outcome = iota
	// Refused: the backend said no (Result.Code, Result.Message).
	Refused
	// Unavailable: the call failed and the policy refuses.
	Unavailable
)

// Result is the decision of a call.
type Result struct {
	Outcome Outcome
	// Code and Message are the backend's refusal (Refused only): the code
	// as the backend gave it when it is 1 to MaxCodeBytes of a-z, A-Z,
	// 0-9, _, - and . (else "forbidden"), the message cut to
	// MaxRefusalBytes (empty: a default of the hook).
	Code, Message string
	// Failure says why the call failed ("" when the backend's answer
	// decided): timeout, error, status, invalid or overload.
	Failure string
}

// ConnectResult is the decision of a connect call.
type ConnectResult struct {
	Result
	// UserID and Name are the user the backend named ("" when it named
	// none: the connection is admitted as it would be without the hook).
	// Name is UserID when the backend gave no name.
	UserID, Name string
	// Rooms are the rooms the user may join, with the meaning of a token's
	// rooms claim, when HasRooms.
	Rooms    auth.Rooms
	HasRooms bool
}

// PublishResult is the decision of a publish call.
type PublishResult struct {
	Result
	// Content replaces the message's content when Replaced.
	Content  string
	Replaced bool
}
