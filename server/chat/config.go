package chat

import (
	"log/slog"
	"time"

	"github.com/chatd/chatd/server/auth"
	"github.com/chatd/chatd/server/hooks"
)

// Config is what the core needs of a node's configuration. Unlike
// server.Config it takes no defaults: server.New fills every field from
// server/defaults.go before it builds the core, so a zero here means zero.
type Config struct {
	// NodeID names this node in the cluster and in hello replies.
	NodeID string
	// Logger receives logs.
	Logger *slog.Logger

	// MaxOutboundBytes is a connection's outbound limit: replies the core
	// sizes (the room list) stay under half of it.
	MaxOutboundBytes int
	// MaxUsernameBytes, MaxRoomIDBytes, MaxRoomNameBytes, MaxUserIDBytes
	// bound names, room ids and user ids.
	MaxUsernameBytes, MaxRoomIDBytes, MaxRoomNameBytes, MaxUserIDBytes int
	// RateLimit requests per second per connection (negative: no limit), up
	// to RateBurst at once; RateAbuseRefusals refusals within
	// RateAbuseWindow close the connection (1008).
	RateLimit         float64
	RateBurst         int
	RateAbuseRefusals int
	RateAbuseWindow   time.Duration
	// MaxQueuedRequests bounds the requests waiting behind one in flight.
	MaxQueuedRequests int
	// RoomListMax bounds the rooms of one room list reply or page;
	// RoomListRefresh is how old the node's shared list may get;
	// RoomListInterval is the shortest time between two room list requests
	// of one connection.
	RoomListMax      int
	RoomListRefresh  time.Duration
	RoomListInterval time.Duration
	// MaxRoomsPerConn bounds the rooms of one connection (protocols with
	// several rooms per connection).
	MaxRoomsPerConn int
	// PresenceMax bounds the members of one presence answer.
	PresenceMax int
	// TypingInterval is the shortest time between two forwarded typing
	// notices of one connection in one room.
	TypingInterval time.Duration
	// HistoryLimit bounds the messages of one history answer.
	HistoryLimit int

	// Auth is the authentication mode; AuthKeys the token keys and checks
	// (unused with AuthOff); GuestRooms the rooms a connection without a
	// token may join under AuthOptional; TokenSweep how often expired
	// tokens are looked for.
	Auth       AuthMode
	AuthKeys   auth.Options
	GuestRooms auth.Rooms
	TokenSweep time.Duration

	// Hooks calls the application's backend (connect, join, publish; see
	// hooks.go). Nil: no hooks.
	Hooks *hooks.Client
}
