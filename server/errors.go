package server

import "errors"

// ErrorCode is the stable machine-readable code of an error reply. The
// message texts of the reference app are kept where it has one.
type ErrorCode string

// The error replies, one table for the product (README lists them).
const (
	CodeInvalidJSON  ErrorCode = "invalid_json"        // Invalid JSON format
	CodeNotObject    ErrorCode = "not_object"          // a JSON value that is not an object
	CodeBadType      ErrorCode = "bad_type"            // "type" present but not a string
	CodeUnknownType  ErrorCode = "unknown_type"        // Unknown message type
	CodeJoinRequired ErrorCode = "join_fields"         // roomId & username required
	CodeBadField     ErrorCode = "bad_field"           // a field of the wrong JSON type
	CodeNameTooLong  ErrorCode = "too_long"            // username, roomId or roomName over its limit
	CodeControlChars ErrorCode = "control_chars"       // control characters in a name
	CodeNotInRoom    ErrorCode = "not_in_room"         // Join a room first
	CodeBadContent   ErrorCode = "bad_content"         // content missing, not a string, or empty
	CodeJoinFailed   ErrorCode = "join_failed"         // Join failed (the cluster refused or failed)
	CodeUnavailable  ErrorCode = "cluster_unavailable" // the cluster (Redis) is unreachable
	CodeRateLimited  ErrorCode = "rate_limited"        // over the per-connection message rate
	CodeQueueFull    ErrorCode = "busy"                // too many requests waiting behind a slow one
	CodeDraining     ErrorCode = "draining"            // the node is shutting down; reconnect elsewhere
	CodeUnauthorized ErrorCode = "unauthorized"        // a token missing (-auth required) or refused; hello closes 1008 after it
	CodeForbidden    ErrorCode = "forbidden"           // a join outside the token's rooms (or -guest-rooms), a refresh for another user

	// v2 only.
	CodeBadID        ErrorCode = "bad_id"          // an id that is not a string or a number of at most 64 bytes
	CodeHelloFirst   ErrorCode = "hello_first"     // a request before hello
	CodeAlreadyHello ErrorCode = "already_hello"   // a second hello
	CodeMissingField ErrorCode = "missing_field"   // a required field is missing or blank
	CodeAlreadyIn    ErrorCode = "already_in_room" // join of a room the connection is in
	CodeTooManyRooms ErrorCode = "too_many_rooms"  // join over the rooms-per-connection limit
)

// Reference texts.
const (
	msgInvalidJSON  = "Invalid JSON format"
	msgJoinRequired = "roomId & username required"
	msgNotInRoom    = "Join a room first"
	msgUnknownType  = "Unknown message type"
	msgJoinFailed   = "Join failed"
)

// requestError is a refused request: what the client is told.
type requestError struct {
	code ErrorCode
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func reqErr(code ErrorCode, msg string) *requestError { return &requestError{code, msg} }

var (
	errEmpty        = errors.New("empty message")
	errInvalidJSON  = reqErr(CodeInvalidJSON, msgInvalidJSON)
	errNotObject    = reqErr(CodeNotObject, "Message must be a JSON object")
	errBadType      = reqErr(CodeBadType, `Field "type" must be a string`)
	errUnknownType  = reqErr(CodeUnknownType, msgUnknownType)
	errJoinRequired = reqErr(CodeJoinRequired, msgJoinRequired)
	errNotInRoom    = reqErr(CodeNotInRoom, msgNotInRoom)
	errBadContent   = reqErr(CodeBadContent, `Field "content" must be a non-empty string`)
	errRateLimited  = reqErr(CodeRateLimited, "Too many messages, slow down")
	errRoomListRate = reqErr(CodeRateLimited, "Room list asked for too often, slow down")
	errQueueFull    = reqErr(CodeQueueFull, "Too many requests in flight")
	errJoinFailed   = reqErr(CodeJoinFailed, msgJoinFailed)
	errDraining     = reqErr(CodeDraining, "Server shutting down")

	errBadID        = reqErr(CodeBadID, `Field "id" must be a string or a number of at most 64 bytes`)
	errHelloFirst   = reqErr(CodeHelloFirst, "Send hello first")
	errAlreadyHello = reqErr(CodeAlreadyHello, "Hello was sent already")
	errAlreadyIn    = reqErr(CodeAlreadyIn, "Already in this room")
)
