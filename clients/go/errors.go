package chatdclient

import "errors"

// Errors of the client itself. Test them with errors.Is.
var (
	// ErrClosed: the client was closed (Close, or a refusal that retrying cannot fix: see Err).
	ErrClosed = errors.New("chatdclient: client closed")
	// ErrDisconnected: a request made while no connection is up. It is refused at once and was
	// not sent: nothing is queued for later.
	ErrDisconnected = errors.New("chatdclient: not connected")
	// ErrConnectionLost: the connection dropped after the request was sent and before its reply;
	// the request may or may not have taken effect (a publish may still be stored: a recovery then
	// delivers it as a message of this user).
	ErrConnectionLost = errors.New("chatdclient: connection lost before the reply")
	// ErrTimeout: no reply within the request's deadline (its context's, or
	// Config.RequestTimeout). The error also matches context.DeadlineExceeded.
	ErrTimeout = errors.New("chatdclient: no reply in time")
	// ErrNotJoined: the room was left, or lost (see RoomLostEvent).
	ErrNotJoined = errors.New("chatdclient: not in this room")
	// ErrAlreadyJoined: Join of a room the client is in (or joining).
	ErrAlreadyJoined = errors.New("chatdclient: already in this room")
	// ErrTooLarge: the request would be larger than Config.MaxMessageBytes, which the server
	// answers by closing the connection; it was not sent.
	ErrTooLarge = errors.New("chatdclient: request larger than MaxMessageBytes")
	// ErrNotV2: the server did not accept the chatd.v2 subprotocol (not chatd, or too old).
	ErrNotV2 = errors.New("chatdclient: server does not speak chatd.v2")
	// ErrEventBufferFull: the application fell Config.EventBuffer events behind; the client
	// dropped its connection and recovers once the application has caught up.
	ErrEventBufferFull = errors.New("chatdclient: event buffer full")
	// ErrProtocol: the server sent something that is not protocol v2.
	ErrProtocol = errors.New("chatdclient: protocol error")
)

// Error codes of the server that the client acts on (docs/protocol-v2.md lists them all).
const (
	CodeUnauthorized  = "unauthorized"        // hello or refresh with a refused token
	CodeForbidden     = "forbidden"           // join outside the token's rooms; refresh for another user
	CodeRateLimited   = "rate_limited"        // over the connection's request rate
	CodeBusy          = "busy"                // too many requests queued on the connection
	CodeDraining      = "draining"            // the node is shutting down
	CodeUnavailable   = "cluster_unavailable" // the node's Redis is unreachable
	CodeJoinFailed    = "join_failed"         // the cluster refused the join
	CodeNotInRoom     = "not_in_room"         // a room request for a room the connection is not in
	CodeAlreadyInRoom = "already_in_room"     // join of a room the connection is in
	CodeTooManyRooms  = "too_many_rooms"      // join over the server's -max-rooms-per-conn
)

// ServerError is a request the server refused: its code and message, as the
// server sent them.
type ServerError struct {
	Request string // the request's type: "join", "publish", ...
	Code    string // e.g. CodeForbidden
	Message string
}

func (e *ServerError) Error() string {
	return "chatdclient: " + e.Request + " refused: " + e.Code + ": " + e.Message
}

// Temporary reports whether the same request may succeed later unchanged.
func (e *ServerError) Temporary() bool {
	switch e.Code {
	case CodeRateLimited, CodeBusy, CodeDraining, CodeUnavailable, CodeJoinFailed:
		return true
	}
	return false
}

// IsCode reports whether err is a ServerError with the given code.
func IsCode(err error, code string) bool {
	var se *ServerError
	return errors.As(err, &se) && se.Code == code
}

// Close codes the server uses that a client may act on (docs/protocol.md has them all).
const (
	CloseNormal       = 1000 // a normal closure
	CloseGoingAway    = 1001 // the node is draining, or the connection was idle
	ClosePolicy       = 1008 // rate abuse, a refused hello, or a server API disconnect
	CloseTooLarge     = 1009 // a message over the server's limit
	CloseAbnormal     = 1006 // no close frame: the TCP connection broke (set by the client)
	CloseTokenExpired = 4001 // the connection's token expired
	CloseHelloTimeout = 4002 // no hello within the server's -hello-timeout (5 s)
	CloseSlowConsumer = 4008 // the client read too slowly
)
