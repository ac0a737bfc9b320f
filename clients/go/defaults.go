package chatdclient

import "time"

// The client's defaults, in one place: a zero Config field takes the value
// named here (config.go says which field uses which).
const (
	// DefaultDialTimeout bounds one dial and WebSocket handshake.
	DefaultDialTimeout = 10 * time.Second
	// DefaultRequestTimeout bounds a request whose context has no deadline.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultBackoffMin is the first reconnect step (the delay is half to all of a step).
	DefaultBackoffMin = 500 * time.Millisecond
	// DefaultBackoffMax caps the reconnect step.
	DefaultBackoffMax = 15 * time.Second
	// DefaultStableAfter: a connection that stayed up this long was a good one; the next drop
	// starts the backoff over.
	DefaultStableAfter = 10 * time.Second
	// DefaultEventBuffer is how many events may wait for the application; past it the client
	// drops the connection and recovers once the application has caught up (see Events).
	DefaultEventBuffer = 1024
	// DefaultMaxPending bounds the requests waiting for a reply; more wait for a slot (or their
	// context).
	DefaultMaxPending = 128
	// DefaultTypingInterval is the client's typing throttle: well above the server's 300 ms
	// (-typing-interval), so that a trailing notice is never dropped there, and often enough for
	// an "is typing" shown for a few seconds.
	DefaultTypingInterval = time.Second
	// DefaultRefreshBefore: a token is refreshed this long before its exp (at most a quarter of
	// its life before).
	DefaultRefreshBefore = 30 * time.Second
	// DefaultMaxMessageBytes is the largest request the client sends: the server's
	// -max-message-bytes default, past which it closes the connection (1009).
	DefaultMaxMessageBytes = 64 << 10
	// DefaultMaxReadBytes bounds one message from the server.
	DefaultMaxReadBytes = 16 << 20
)

// Bounds that are not configurable: they only guard against a misbehaving server.
const (
	// maxHeldPushes and maxHeldBytes bound the pushes a room holds while its recovery is on its
	// way (the server closes a connection with 1 MiB queued anyway); past them the room recovers
	// again. heldOverhead is a held push's size besides its strings.
	maxHeldPushes = 4096
	maxHeldBytes  = 1 << 20
	heldOverhead  = 64
	// maxAhead bounds the offsets a room remembers past a hole before it recovers anyway.
	maxAhead = 1024
	// writeTimeout bounds one write to the socket (a server that stopped reading).
	writeTimeout = 10 * time.Second
	// minRefreshInterval: a token is refreshed at most this often, whatever its exp says.
	minRefreshInterval = time.Second
	// rejoinBurst re-joins go at once after a reconnect, the rest rejoinRate per second: under
	// the server's per-connection request rate (20/s, burst 40).
	rejoinBurst = 32
	rejoinRate  = 16
	// roomListRetries: a room list page of AllRooms refused as rate_limited (a server that bounds
	// room list requests per connection) is asked again this often, roomListRetryWait apart.
	roomListRetries = 5
	// closeWait bounds the close handshake of Close.
	closeWait = time.Second
)

// roomListRetryWait is the wait before a room list page refused as rate_limited is asked again:
// past the server's -room-list-interval (1 s). (A variable for tests.)
var roomListRetryWait = 1100 * time.Millisecond
