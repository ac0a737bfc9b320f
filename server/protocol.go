package server

import (
	"reflect"
	"unsafe"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/encoder"
	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/internal/isotime"
)

// Wire protocol v1, compatible with the reference chat app (DESIGN §3).
// Field names, field order and type values are exact.

// Message types.
const (
	TypeJoin        = "join"
	TypeMessage     = "message"
	TypeLeaveRoom   = "leaveRoom"
	TypeGetRoomList = "getRoomList"
	TypeConnected   = "connected"
	TypeRoomJoined  = "roomJoined"
	TypeUserJoined  = "userJoined"
	TypeUserLeft    = "userLeft"
	TypeRoomList    = "roomList"
	TypeError       = "error"
)

// Request is a client request. Only the fields of its type are meaningful.
type Request struct {
	Type     string `json:"type"`
	RoomID   string `json:"roomId"`
	Username string `json:"username"`
	RoomName string `json:"roomName"`
	Content  string `json:"content"`
}

// Connected is sent right after the upgrade.
type Connected struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	UserID  string `json:"userId"`
}

// RoomJoined answers a successful join.
type RoomJoined struct {
	Type        string `json:"type"`
	RoomID      string `json:"roomId"`
	MemberCount int    `json:"memberCount"`
	Message     string `json:"message"`
}

// Presence is userJoined or userLeft.
type Presence struct {
	Type        string `json:"type"`
	Username    string `json:"username"`
	UserID      string `json:"userId"`
	MemberCount int    `json:"memberCount"`
}

// Chat is a chat message as every member sees it.
type Chat struct {
	Type      string `json:"type"`
	Content   string `json:"content"`
	Username  string `json:"username"`
	UserID    string `json:"userId"`
	Timestamp string `json:"timestamp"`
}

// Typing is the cluster form of a v2 typing notice: the reference shape, so
// that reference nodes can pass it on (their client ignores the type).
type Typing struct {
	Type     string `json:"type"`
	Username string `json:"username"`
	UserID   string `json:"userId"`
}

// RoomInfo is one entry of a room list.
type RoomInfo struct {
	RoomID      string `json:"roomId"`
	Name        string `json:"name"`
	MemberCount int    `json:"memberCount"`
	CreatedAt   string `json:"createdAt"`
}

// RoomList answers getRoomList.
type RoomList struct {
	Type  string     `json:"type"`
	Rooms []RoomInfo `json:"rooms"`
}

// Error reports a bad request; the connection stays open. Message keeps the
// reference app's texts; Code is ours and stable.
type Error struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

// jsonAPI decodes requests. ValidateString refuses raw control characters in
// strings and CaseSensitive matches keys exactly, as JSON.parse does.
// CopyString because the payload lives in the
// event loop's read buffer, which is reused once the handler returns.
var jsonAPI = sonic.Config{CopyString: true, ValidateString: true, CaseSensitive: true}.Froze()

// encodeOpts: no HTML escaping, like JavaScript's JSON.stringify.
const encodeOpts encoder.Options = 0

// pretouch compiles the codecs of every message type at start-up, so the
// first message does not pay for sonic's JIT.
func pretouch() error {
	for _, v := range []any{Request{}, Connected{}, RoomJoined{}, Presence{}, Chat{}, RoomList{}, Error{}, Envelope{}, Typing{},
		RequestV2{}, OKReply{}, HelloOK{}, JoinOK{}, PublishOK{}, HistoryOK{}, PresenceOK{}, RoomsOK{}, MessageV2{},
		PresenceV2{}, TypingV2{}, ResyncV2{}, ErrorV2{}} {
		if err := sonic.Pretouch(reflect.TypeOf(v)); err != nil {
			return err
		}
	}
	return nil
}

// sonicNative reports whether sonic runs its native (JIT) implementation;
// on an unsupported Go it silently falls back to encoding/json.
func sonicNative() bool { return sonic.APIKind == sonic.UseSonicJSON }

// decodeRequest decodes one request without copying the payload first.
func decodeRequest(p []byte, r *Request) error {
	if len(p) == 0 {
		return errEmpty
	}
	return jsonAPI.UnmarshalFromString(unsafe.String(&p[0], len(p)), r)
}

// decodeRequestV2 decodes one v2 request without copying the payload first.
func decodeRequestV2(p []byte, r *RequestV2) error {
	return jsonAPI.UnmarshalFromString(unsafe.String(&p[0], len(p)), r)
}

// frameOf encodes v as JSON straight into a WebSocket text frame: one buffer,
// with room reserved in front for the header, so the JSON is never copied.
func frameOf(v any) []byte {
	buf := make([]byte, eventloop.MaxFrameHeader, eventloop.MaxFrameHeader+160)
	if err := encoder.EncodeInto(&buf, v, encodeOpts); err != nil {
		// Every type encoded here is a plain struct of strings and ints.
		panic("server: encode " + reflect.TypeOf(v).String() + ": " + err.Error())
	}
	n := len(buf) - eventloop.MaxFrameHeader
	h := eventloop.FrameHeaderSize(n)
	start := eventloop.MaxFrameHeader - h
	eventloop.PutFrameHeader(buf[start:eventloop.MaxFrameHeader], 0x1, n)
	return buf[start:]
}

// jsTime formats t like JavaScript's Date.prototype.toISOString.
var jsTime = isotime.Format

// Envelope is a room event as published on Redis: the client-visible fields
// of any event type plus excludeUserId (DESIGN §4). Decoding a reference
// node's payload yields this union; the client frame is re-encoded from it
// by type.
type Envelope struct {
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
