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
	// UserRateLimit and UserRateBurst bound the requests of one user's
	// connections together (users named by a token or a hook), AddrRateLimit
	// and AddrRateBurst those of one client address's, on this node.
	// Negative rate: no limit.
	UserRateLimit float64
	UserRateBurst int
	AddrRateLimit float64
	AddrRateBurst int
	// UserRoomCreateRate and UserRoomCreateBurst bound the rooms one user
	// with a token creates (joins while nobody is in them) on this node;
	// AddrRoomCreateRate and AddrRoomCreateBurst those of one client address
	// for connections without a token. Negative rate: no limit.
	UserRoomCreateRate  float64
	UserRoomCreateBurst int
	AddrRoomCreateRate  float64
	AddrRoomCreateBurst int
	// NoticeRoomSize is the member count past which a room's joined/left
	// notices are sampled: at most NoticeRate per second per room and node
	// (bursts of NoticeBurst) are published, the rest dropped and counted.
	// Negative NoticeRoomSize: every notice is published.
	NoticeRoomSize int
	NoticeRate     float64
	NoticeBurst    int
	// MaxQueuedRequests bounds the requests waiting behind one in flight.
	MaxQueuedRequests int
	// RoomListMax bounds the rooms of one room list reply or page;
	// RoomListRefresh is how old the node's shared list may get;
	// RoomListInterval is the time one room list request of a connection
	// takes back from its allowance, which holds RoomListBurst requests
	// (pages) at most (protocols without paging: 1).
	RoomListMax      int
	RoomListRefresh  time.Duration
	RoomListInterval time.Duration
	RoomListBurst    int
	// MaxRoomsPerConn bounds the rooms of one connection (protocols with
	// several rooms per connection).
	MaxRoomsPerConn int
	// PresenceMax bounds the members of one presence answer; PresenceCache
	// is how long one read of a room's members serves this node's presence
	// requests (zero or negative: every request reads).
	PresenceMax   int
	PresenceCache time.Duration
	// TypingInterval is the shortest time between two forwarded typing
	// notices of one connection in one room.
	TypingInterval time.Duration
	// HistoryLimit bounds the messages of one history answer.
	HistoryLimit int

	// HelloTimeout is the time a session that must identify itself (v2's
	// hello) has to do so; past it the connection closes (4002). Zero: no
	// deadline.
	HelloTimeout time.Duration

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
