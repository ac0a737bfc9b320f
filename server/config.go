package server

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/chatd/chatd/server/auth"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/chat"
	"github.com/chatd/chatd/server/hooks"
	"github.com/chatd/chatd/server/sink"
	v2 "github.com/chatd/chatd/server/v2"
)

// AuthMode is the authentication mode (see chat.AuthMode).
type AuthMode = chat.AuthMode

// The authentication modes.
const (
	AuthOff      = chat.AuthOff      // no tokens: self-declared names, random ids (the reference app's way)
	AuthOptional = chat.AuthOptional // a valid token names the user; without one, a guest
	AuthRequired = chat.AuthRequired // every connection needs a valid token
)

// SystemUserID is the user id of messages published through the server API.
// Tokens naming it are refused, so no client can speak as the system.
const SystemUserID = chat.SystemUserID

// SystemName is the default display name of server API messages.
const SystemName = "system"

// Subprotocol is the WebSocket subprotocol that selects protocol v2.
const Subprotocol = v2.Subprotocol

// Config configures a chat node. Every zero field takes the default of the
// same name in defaults.go.
type Config struct {
	// Addr is the listen address. Zero: DefaultAddr.
	Addr string
	// Loops is the number of event loops. Zero: one per CPU.
	Loops int
	// ReusePort lets several processes share Addr (SO_REUSEPORT). Zero: off.
	ReusePort bool

	// MaxMessageBytes bounds an inbound message (close 1009). Zero: DefaultMaxMessageBytes.
	MaxMessageBytes int
	// MaxHeaderBytes bounds the upgrade request head (431). Zero: DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxOutboundBytes bounds a connection's queued output (close 4008). Zero: DefaultMaxOutboundBytes.
	MaxOutboundBytes int
	// MaxConns bounds open WebSockets and HTTP streams per node (503). Zero:
	// unlimited.
	MaxConns int
	// MaxTCPConns bounds TCP connections so that the file descriptors never
	// run out (see eventloop.Config). Zero: derived from the file limit.
	MaxTCPConns int
	// HandshakeTimeout, PingInterval, IdleTimeout, CloseTimeout: see
	// eventloop.Config. Zero: the defaults of the same names.
	HandshakeTimeout, PingInterval, IdleTimeout, CloseTimeout time.Duration
	// HelloTimeout is the time a v2 connection has to say hello (with auth
	// on or off); past it the connection is closed with 4002, whatever it
	// sent meanwhile. Zero: DefaultHelloTimeout; negative: no deadline.
	HelloTimeout time.Duration

	// MaxContinuationFrames bounds the frames of one fragmented message
	// (close 1009). Zero: DefaultMaxContinuationFrames; negative: no bound.
	MaxContinuationFrames int
	// PingRate and PingBurst bound the pings a connection may send (close
	// 1008; see eventloop.Config). Zero: the defaults of the same names;
	// negative PingRate: no limit.
	PingRate  float64
	PingBurst int
	// MaxPendingPerIP bounds the connections per peer address still in their
	// handshake (503 at once). Zero: DefaultMaxPendingPerIP; negative: no bound.
	MaxPendingPerIP int
	// PendingPressure is the number of handshakes in progress node-wide from
	// which MaxPendingPerIP applies (see eventloop.Config). Zero:
	// DefaultPendingPressure (at most a quarter of MaxTCPConns); negative:
	// MaxPendingPerIP always applies.
	PendingPressure int
	// MaxNodeOutboundBytes bounds the output queued for all connections
	// together; past it the largest queues are closed (4008; see
	// eventloop.Config). Zero: DefaultMaxNodeOutboundBytes; negative: no
	// bound.
	MaxNodeOutboundBytes int
	// PendingExemptPeers are not subject to MaxPendingPerIP (e.g. trusted
	// reverse proxies). Empty: none.
	PendingExemptPeers []netip.Prefix
	// ReclaimAfter: once a burst of connections and joins (a storm) has been
	// quiet this long, the node runs one full GC that returns free memory to
	// the OS (reclaim.go; at most one per 10 s). Negative: never. Zero:
	// DefaultReclaimAfter.
	ReclaimAfter time.Duration

	// CoalesceDelay holds room events up to this long so that busy
	// connections get several per write (see eventloop.Config). Zero:
	// DefaultCoalesceDelay (off).
	CoalesceDelay time.Duration

	// MaxUsernameBytes, MaxRoomIDBytes, MaxRoomNameBytes bound names. Zero:
	// the defaults of the same names.
	MaxUsernameBytes, MaxRoomIDBytes, MaxRoomNameBytes int
	// RateLimit is requests per second per connection; RateBurst the bucket
	// size. Zero: DefaultRateLimit, DefaultRateBurst. Negative RateLimit:
	// no limit.
	RateLimit float64
	RateBurst int
	// RateAbuseRefusals refusals within RateAbuseWindow close the connection
	// with 1008. Zero: the defaults of the same names.
	RateAbuseRefusals int
	RateAbuseWindow   time.Duration
	// UserRateLimit is requests per second of one user's connections
	// together on this node (a user named by a token); UserRateBurst its
	// bucket. Zero: DefaultUserRateLimit, DefaultUserRateBurst. Negative
	// UserRateLimit: no limit.
	UserRateLimit float64
	UserRateBurst int
	// AddrRateLimit is requests per second of one client address's
	// connections together on this node (the address -trusted-proxies
	// resolve); AddrRateBurst its bucket. Zero: DefaultAddrRateLimit (off:
	// users behind one NAT, and a load generator's clients, share an
	// address), DefaultAddrRateBurst. Negative AddrRateLimit: no limit.
	AddrRateLimit float64
	AddrRateBurst int
	// UserRoomCreateRate is how many rooms per second one user with a token
	// may create on this node (join while nobody is in them; a room's
	// history outlives its members by -history-age); UserRoomCreateBurst at
	// once. Zero: DefaultUserRoomCreateRate, DefaultUserRoomCreateBurst;
	// negative rate: no limit.
	UserRoomCreateRate  float64
	UserRoomCreateBurst int
	// AddrRoomCreateRate and AddrRoomCreateBurst are the same per client
	// address, for connections without a token (a burst large enough for
	// users behind one NAT and for a load test from one machine). Zero:
	// DefaultAddrRoomCreateRate, DefaultAddrRoomCreateBurst; negative rate:
	// no limit.
	AddrRoomCreateRate  float64
	AddrRoomCreateBurst int
	// NoticeRoomSize is the member count past which a room's joined/left
	// notices are sampled: at most NoticeRate per second per room and node,
	// in bursts of NoticeBurst; the rest are dropped (counted). Zero:
	// DefaultNoticeRoomSize, DefaultNoticeRate, DefaultNoticeBurst;
	// negative NoticeRoomSize: every notice is published.
	NoticeRoomSize int
	NoticeRate     float64
	NoticeBurst    int
	// RoomListMax bounds the rooms of a v1 roomList reply (those with the most
	// members). Zero: DefaultRoomListMax.
	RoomListMax int
	// RoomListRefresh is how old the node's shared room list may be before a
	// request rebuilds it. Zero: DefaultRoomListRefresh.
	RoomListRefresh time.Duration
	// RoomListInterval is how often a connection may ask for the room list
	// over time; faster ones get rate_limited. Zero: DefaultRoomListInterval.
	RoomListInterval time.Duration
	// RoomListBurst is how many v2 room list pages a connection may ask for
	// in a row before RoomListInterval applies (v1's getRoomList: always
	// 1). Zero: DefaultRoomListBurst.
	RoomListBurst int
	// MaxRoomsPerConn bounds the rooms one v2 connection is in. Zero:
	// DefaultMaxRoomsPerConn.
	MaxRoomsPerConn int
	// PresenceMax bounds the members of one presence reply. Zero:
	// DefaultPresenceMax.
	PresenceMax int
	// PresenceCache is how long one read of a room's members from the
	// cluster serves this node's presence requests for the room. Zero:
	// DefaultPresenceCache; negative: every request reads.
	PresenceCache time.Duration
	// TypingInterval is the shortest time between two typing notices of one
	// connection in one room that are forwarded. Zero: DefaultTypingInterval.
	TypingInterval time.Duration
	// HistoryLimit bounds the messages of one v2 join or history reply.
	// Zero: DefaultHistoryLimit.
	HistoryLimit int
	// MaxQueuedRequests bounds requests waiting behind an in-flight cluster
	// request. Zero: DefaultMaxQueuedRequests.
	MaxQueuedRequests int
	// BrokerTimeout bounds one cluster request. Zero: DefaultBrokerTimeout.
	BrokerTimeout time.Duration

	// Auth is the authentication mode (identity.go). Zero: DefaultAuth (off).
	Auth AuthMode
	// AuthKeys are the token keys and checks (secret, key files, leeway,
	// audience, issuer); the claim bounds come from this Config. Unused with
	// AuthOff. Zero Leeway: DefaultJWTLeeway; negative: none.
	AuthKeys auth.Options
	// GuestRooms are the rooms a connection without a token may join under
	// AuthOptional. Zero: none.
	GuestRooms auth.Rooms
	// MaxUserIDBytes bounds a token's sub. Zero: DefaultMaxUserIDBytes.
	MaxUserIDBytes int
	// TokenSweep is how often connections whose token expired are looked
	// for (and closed with 4001). Zero: DefaultTokenSweep.
	TokenSweep time.Duration
	// APIKey enables the server API (package server/api) on AdminHandler,
	// for callers that send it as a bearer token. Empty: no API.
	APIKey string
	// APIOnMain serves the server API on the main port too (with APIKey).
	APIOnMain bool

	// AllowedOrigins lists the Origin values accepted for upgrades ("*": all).
	// Zero: requests without Origin and those whose Origin host equals the
	// Host header's host (any port; X-Forwarded-Host from a trusted proxy
	// stands for Host). That rule trusts Host, which DNS rebinding can
	// forge: production sets this list.
	AllowedOrigins []string
	// TrustedProxies are the peers whose X-Forwarded-For / X-Real-IP name
	// the client and whose X-Forwarded-Host names the host (see
	// clientaddr.go). Zero: none; every peer is the client.
	TrustedProxies []netip.Prefix
	// MaxConnsPerIP bounds open WebSockets per client address (429). Zero:
	// off (DefaultMaxConnsPerIP), since NAT and proxies share addresses.
	MaxConnsPerIP int
	// NoStream turns the HTTP streaming carrier off: DefaultStreamPath then
	// answers 404. Zero: on.
	NoStream bool
	// StreamResume is how long a stream whose TCP connection went away
	// keeps its session for a resume. Zero: DefaultStreamResume; negative:
	// no resume (the session ends with its stream).
	StreamResume time.Duration
	// StreamReplayBytes bounds the stream events retained node-wide for
	// resumes. Zero: DefaultStreamReplayBytes; negative: none (a resume
	// succeeds only if the client missed nothing).
	StreamReplayBytes int
	// StreamBatch bounds the requests of one stream POST (413). Zero:
	// DefaultStreamBatch.
	StreamBatch int
	// NoMetricsOnMain stops serving /metrics on the main port (404);
	// AdminHandler still serves it. Zero: served.
	NoMetricsOnMain bool

	// Hooks are the calls to the application's backend (connect, join,
	// publish; package server/hooks, README "Hooks and sink"). Zero: no
	// hook. A hook's zero Timeout and OnFailure, and zero bounds, take the
	// DefaultHook* values; Limits, NodeID and Logger come from this Config.
	// The connect hook cannot be combined with AuthRequired.
	Hooks hooks.Config
	// Sink is the message sink (package server/sink, README "Hooks and
	// sink"): with a URL, every stored message is POSTed to it, from the
	// queue the broker keeps (SinkQueue; Config.Broker must have one).
	// Its Secret defaults to Hooks.Secret; NodeID and Logger come from this
	// Config. Zero: no sink.
	Sink sink.Config

	// Broker connects the node to the cluster. Required: cmd/chatd wires
	// server/broker/memory (one node) or server/broker/redis.
	Broker broker.Broker
	// NodeID names this node in logs and in the cluster. Zero: random.
	NodeID string
	// Logger receives logs. Zero: slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	setDefault(&c.ReclaimAfter, DefaultReclaimAfter)
	setDefault(&c.Addr, DefaultAddr)
	setDefault(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	setDefault(&c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&c.MaxOutboundBytes, DefaultMaxOutboundBytes)
	setDefault(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&c.PingInterval, DefaultPingInterval)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.CloseTimeout, DefaultCloseTimeout)
	setDefault(&c.HelloTimeout, DefaultHelloTimeout)
	setDefault(&c.MaxContinuationFrames, DefaultMaxContinuationFrames)
	setDefault(&c.PingRate, DefaultPingRate)
	setDefault(&c.PingBurst, DefaultPingBurst)
	setDefault(&c.MaxPendingPerIP, DefaultMaxPendingPerIP)
	setDefault(&c.PendingPressure, DefaultPendingPressure)
	setDefault(&c.MaxNodeOutboundBytes, DefaultMaxNodeOutboundBytes)
	setDefault(&c.MaxUsernameBytes, DefaultMaxUsernameBytes)
	setDefault(&c.MaxRoomIDBytes, DefaultMaxRoomIDBytes)
	setDefault(&c.MaxRoomNameBytes, DefaultMaxRoomNameBytes)
	setDefault(&c.RateLimit, DefaultRateLimit)
	setDefault(&c.RateBurst, DefaultRateBurst)
	setDefault(&c.RateAbuseRefusals, DefaultRateAbuseRefusals)
	setDefault(&c.RateAbuseWindow, DefaultRateAbuseWindow)
	setDefault(&c.UserRateLimit, DefaultUserRateLimit)
	setDefault(&c.UserRateBurst, DefaultUserRateBurst)
	setDefault(&c.AddrRateLimit, DefaultAddrRateLimit)
	setDefault(&c.AddrRateBurst, DefaultAddrRateBurst)
	setDefault(&c.UserRoomCreateRate, DefaultUserRoomCreateRate)
	setDefault(&c.UserRoomCreateBurst, DefaultUserRoomCreateBurst)
	setDefault(&c.AddrRoomCreateRate, DefaultAddrRoomCreateRate)
	setDefault(&c.AddrRoomCreateBurst, DefaultAddrRoomCreateBurst)
	setDefault(&c.NoticeRoomSize, DefaultNoticeRoomSize)
	setDefault(&c.NoticeRate, DefaultNoticeRate)
	setDefault(&c.NoticeBurst, DefaultNoticeBurst)
	setDefault(&c.MaxQueuedRequests, DefaultMaxQueuedRequests)
	setDefault(&c.RoomListMax, DefaultRoomListMax)
	setDefault(&c.HistoryLimit, DefaultHistoryLimit)
	setDefault(&c.MaxRoomsPerConn, DefaultMaxRoomsPerConn)
	setDefault(&c.PresenceMax, DefaultPresenceMax)
	setDefault(&c.PresenceCache, DefaultPresenceCache)
	setDefault(&c.TypingInterval, DefaultTypingInterval)
	setDefault(&c.RoomListRefresh, DefaultRoomListRefresh)
	setDefault(&c.RoomListInterval, DefaultRoomListInterval)
	setDefault(&c.RoomListBurst, DefaultRoomListBurst)
	setDefault(&c.BrokerTimeout, DefaultBrokerTimeout)
	setDefault(&c.StreamResume, DefaultStreamResume)
	setDefault(&c.StreamReplayBytes, DefaultStreamReplayBytes)
	setDefault(&c.StreamBatch, DefaultStreamBatch)
	setDefault(&c.Auth, AuthMode(DefaultAuth))
	setDefault(&c.MaxUserIDBytes, DefaultMaxUserIDBytes)
	setDefault(&c.TokenSweep, DefaultTokenSweep)
	setDefault(&c.AuthKeys.MaxTokenBytes, DefaultMaxTokenBytes)
	setDefault(&c.AuthKeys.MaxRooms, DefaultMaxTokenRooms)
	setDefault(&c.AuthKeys.Leeway, DefaultJWTLeeway)
	c.AuthKeys.Leeway = max(c.AuthKeys.Leeway, 0)
	setDefault(&c.Hooks.Connect.Timeout, DefaultHookConnectTimeout)
	setDefault(&c.Hooks.Join.Timeout, DefaultHookJoinTimeout)
	setDefault(&c.Hooks.Publish.Timeout, DefaultHookPublishTimeout)
	setDefault(&c.Hooks.Connect.OnFailure, DefaultHookOnFailure)
	setDefault(&c.Hooks.Join.OnFailure, DefaultHookOnFailure)
	setDefault(&c.Hooks.Publish.OnFailure, DefaultHookOnFailure)
	setDefault(&c.Hooks.MaxInFlight, DefaultHookMaxInFlight)
	setDefault(&c.Hooks.MaxQueued, DefaultHookMaxQueued)
	setDefault(&c.Hooks.MaxQueuedBytes, DefaultHookMaxQueuedBytes)
	setDefault(&c.Hooks.MaxPerKey, DefaultHookMaxPerRoom)
	if c.NodeID == "" {
		c.NodeID = "node-" + chat.NewID()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// core is what the session core takes of the configuration (with defaults).
func (c Config) core() chat.Config {
	return chat.Config{
		NodeID: c.NodeID, Logger: c.Logger, MaxOutboundBytes: c.MaxOutboundBytes,
		MaxUsernameBytes: c.MaxUsernameBytes, MaxRoomIDBytes: c.MaxRoomIDBytes, MaxRoomNameBytes: c.MaxRoomNameBytes,
		MaxUserIDBytes: c.MaxUserIDBytes,
		RateLimit:      c.RateLimit, RateBurst: c.RateBurst, RateAbuseRefusals: c.RateAbuseRefusals,
		RateAbuseWindow: c.RateAbuseWindow, MaxQueuedRequests: c.MaxQueuedRequests,
		UserRateLimit: c.UserRateLimit, UserRateBurst: c.UserRateBurst, AddrRateLimit: c.AddrRateLimit,
		AddrRateBurst: c.AddrRateBurst, NoticeRoomSize: c.NoticeRoomSize,
		UserRoomCreateRate: c.UserRoomCreateRate, UserRoomCreateBurst: c.UserRoomCreateBurst,
		AddrRoomCreateRate: c.AddrRoomCreateRate, AddrRoomCreateBurst: c.AddrRoomCreateBurst, NoticeRate: c.NoticeRate,
		NoticeBurst: c.NoticeBurst,
		RoomListMax: c.RoomListMax, RoomListRefresh: c.RoomListRefresh, RoomListInterval: c.RoomListInterval,
		RoomListBurst:   c.RoomListBurst,
		MaxRoomsPerConn: c.MaxRoomsPerConn, PresenceMax: c.PresenceMax, PresenceCache: c.PresenceCache, TypingInterval: c.TypingInterval,
		HistoryLimit: c.HistoryLimit,
		HelloTimeout: max(c.HelloTimeout, 0),
		Auth:         c.Auth, AuthKeys: c.AuthKeys, GuestRooms: c.GuestRooms, TokenSweep: c.TokenSweep,
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
