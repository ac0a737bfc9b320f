package chat

import "errors"

// ErrorCode is the stable machine-readable code of an error reply, the same
// in every protocol and in the server API. The message texts of the
// reference app are kept where it has one.
type ErrorCode string

// The error codes, one table for the product (docs/protocol.md lists them).
const (
	CodeInvalidJSON  ErrorCode = "invalid_json"        // Invalid JSON format
	CodeNotObject    ErrorCode = "not_object"          // a JSON value that is not an object
	CodeBadType      ErrorCode = "bad_type"            // "type" present but not a string
	CodeUnknownType  ErrorCode = "unknown_type"        // Unknown message type
	CodeJoinRequired ErrorCode = "join_fields"         // roomId & username required (v1)
	CodeBadField     ErrorCode = "bad_field"           // a field of the wrong JSON type
	CodeNameTooLong  ErrorCode = "too_long"            // username, roomId or roomName over its limit
	CodeControlChars ErrorCode = "control_chars"       // control characters in a name
	CodeNotInRoom    ErrorCode = "not_in_room"         // Join a room first
	CodeBadContent   ErrorCode = "bad_content"         // content missing, not a string, or empty
	CodeJoinFailed   ErrorCode = "join_failed"         // Join failed (the cluster refused or failed)
	CodeUnavailable  ErrorCode = "cluster_unavailable" // the cluster (Redis) is unreachable
	CodeStorageFull  ErrorCode = "storage_full"        // the cluster's store (Redis) refused the write: out of memory; nothing was stored or delivered
	CodeRateLimited  ErrorCode = "rate_limited"        // over the per-connection message rate
	CodeQueueFull    ErrorCode = "busy"                // too many requests waiting behind a slow one
	CodeDraining     ErrorCode = "draining"            // the node is shutting down; reconnect elsewhere
	CodeUnauthorized ErrorCode = "unauthorized"        // a token missing (-auth required) or refused
	CodeForbidden    ErrorCode = "forbidden"           // a join outside the token's rooms (or -guest-rooms), a refresh for another user

	CodeServiceUnavailable ErrorCode = "service_unavailable" // a hook call failed (timeout, error, overload) and its policy refuses

	// Protocol v2 only.
	CodeBadID        ErrorCode = "bad_id"          // an id that is not a string or a number of at most 64 bytes
	CodeHelloFirst   ErrorCode = "hello_first"     // a request before hello
	CodeAlreadyHello ErrorCode = "already_hello"   // a second hello
	CodeMissingField ErrorCode = "missing_field"   // a required field is missing or blank
	CodeAlreadyIn    ErrorCode = "already_in_room" // join of a room the connection is in
	CodeTooManyRooms ErrorCode = "too_many_rooms"  // join over the rooms-per-connection limit
)

// Reference texts (the reference app's error messages).
const (
	MsgInvalidJSON  = "Invalid JSON format"
	MsgJoinRequired = "roomId & username required"
	MsgNotInRoom    = "Join a room first"
	MsgUnknownType  = "Unknown message type"
	MsgJoinFailed   = "Join failed"
)

// Error is a refused request: what the client is told, in whichever
// protocol it speaks.
type Error struct {
	Code ErrorCode
	Msg  string
	// byHook: a backend's refusal (hooks.go), whose code the backend chose:
	// counted under one metric label, "hook_refused", whatever the code.
	byHook bool
}

func (e *Error) Error() string { return e.Msg }

// Errorf is an Error with its code and text.
func Errorf(code ErrorCode, msg string) *Error { return &Error{Code: code, Msg: msg} }

// Missing is the error of a required field left out.
func Missing(field string) *Error {
	return Errorf(CodeMissingField, `Field "`+field+`" is required`)
}

// The errors of several places.
var (
	ErrInvalidJSON  = Errorf(CodeInvalidJSON, MsgInvalidJSON)
	ErrNotObject    = Errorf(CodeNotObject, "Message must be a JSON object")
	ErrBadType      = Errorf(CodeBadType, `Field "type" must be a string`)
	ErrUnknownType  = Errorf(CodeUnknownType, MsgUnknownType)
	ErrBadContent   = Errorf(CodeBadContent, `Field "content" must be a non-empty string`)
	ErrRateLimited  = Errorf(CodeRateLimited, "Too many messages, slow down")
	ErrRoomListRate = Errorf(CodeRateLimited, "Room list asked for too often, slow down")
	ErrQueueFull    = Errorf(CodeQueueFull, "Too many requests in flight")
	ErrJoinFailed   = Errorf(CodeJoinFailed, MsgJoinFailed)
	ErrDraining     = Errorf(CodeDraining, "Server shutting down")

	errJoinUnavailable = Errorf(CodeUnavailable, MsgJoinFailed+": cluster unavailable")
	errNotDelivered    = Errorf(CodeUnavailable, "Message not delivered: cluster unavailable")
	errStorageFull     = Errorf(CodeStorageFull, "Message not delivered: cluster storage full")
	errJoinStorageFull = Errorf(CodeStorageFull, MsgJoinFailed+": cluster storage full")
	errRecoveryFull    = Errorf(CodeStorageFull, "Recovery failed: cluster storage full")
	errNoRoomList      = Errorf(CodeUnavailable, "Room list unavailable: cluster unavailable")
	errNoHistory       = Errorf(CodeUnavailable, "History unavailable: cluster unavailable")
	errNoPresence      = Errorf(CodeUnavailable, "Presence unavailable: cluster unavailable")
	errNoRecovery      = Errorf(CodeUnavailable, "Recovery failed: cluster unavailable")
)

// errEmpty is a request without a byte.
var errEmpty = errors.New("empty message")
