package server

import (
	"time"

	"github.com/chatd/chatd/eventloop"
)

// Every operational default of chatd, in one place. Each is the value a zero
// Config field (and a flag left unset) takes. The transport's own defaults
// are defined in eventloop/defaults.go and repeated here by name so that this
// file is the complete table.
const (
	DefaultAddr             = eventloop.DefaultAddr             // listen address (the PORT env var overrides the port)
	DefaultMaxMessageBytes  = eventloop.DefaultMaxMessageBytes  // 64 KiB: largest inbound message; larger closes 1009
	DefaultMaxHeaderBytes   = eventloop.DefaultMaxHeaderBytes   // 8 KiB: largest upgrade request head; larger gets 431
	DefaultMaxOutboundBytes = eventloop.DefaultMaxOutboundBytes // 1 MiB queued per connection; more closes 4008
	DefaultHandshakeTimeout = eventloop.DefaultHandshakeTimeout // 10 s to send the upgrade request
	DefaultPingInterval     = eventloop.DefaultPingInterval     // 30 s: ping a quiet connection
	DefaultIdleTimeout      = eventloop.DefaultIdleTimeout      // 75 s without inbound traffic closes 1001
	DefaultCloseTimeout     = eventloop.DefaultCloseTimeout     // 3 s to answer our close frame
	DefaultCoalesceDelay    = eventloop.DefaultCoalesceDelay    // 0: room events are written at once (see -coalesce-delay)

	DefaultMaxTCPConns       = 0                // TCP connections per node; 0 = the file limit minus the listen backlog minus 256 (see eventloop/fdlimit.go)
	DefaultMaxConns          = 0                // open WebSockets per node; 0 = unlimited (the file limit still applies)
	DefaultMaxUsernameBytes  = 64               // username length in bytes
	DefaultMaxRoomIDBytes    = 128              // roomId length in bytes
	DefaultMaxRoomNameBytes  = 128              // roomName length in bytes
	DefaultRateLimit         = 20.0             // requests per second per connection (token bucket rate)
	DefaultRateBurst         = 40               // token bucket size
	DefaultRateAbuseRefusals = 100              // refusals within RateAbuseWindow that close the connection (1008)
	DefaultRateAbuseWindow   = 10 * time.Second // window for DefaultRateAbuseRefusals
	DefaultMaxQueuedRequests = 64               // requests waiting behind a slow one (e.g. a join); more are refused
	DefaultBrokerTimeout     = 5 * time.Second  // a cluster request (join, leave, room list) fails after this
	DefaultShutdownTimeout   = 10 * time.Second // graceful stop gives up after this
	DefaultDrainWindow       = 5 * time.Second  // a draining node closes its clients spread over this window
	DefaultWebSocketPaths    = "/,/ws"          // paths that accept upgrades
	DefaultAllowedOrigins    = ""               // empty: same host (any port) or no Origin header; "*" allows all
	DefaultTrustedProxies    = ""               // CIDRs whose X-Forwarded-For/X-Real-IP/X-Forwarded-Host are believed; empty: none
	DefaultMaxConnsPerIP     = 0                // open WebSockets per client address; 0 = off (NAT and proxies share addresses)
	DefaultMetricsOnMain     = "auto"           // /metrics on the main port: auto = off when -admin is set, on otherwise
	DefaultLogFormat         = "text"           // log format: text or json
	DefaultLogLevel          = "info"           // log level: debug, info, warn or error (no per-message logs at info)
	DefaultAdminAddr         = ""               // separate listener for /metrics, /healthz, /readyz; empty: main port only
	DefaultSubscribeLinger   = 30 * time.Second // keep a room's Redis subscription this long after its last local member left
	DefaultHeartbeatInterval = 5 * time.Second  // node heartbeat refresh period (cluster mode)
	DefaultHeartbeatTTL      = 15 * time.Second // a node whose heartbeat is this old is dead; its members are removed
	DefaultRedisDialTimeout  = 2 * time.Second  // connecting to Redis
	DefaultRedisMaxBackoff   = 5 * time.Second  // reconnect backoff cap
	DefaultPublishBatch      = 256              // publishes per Redis pipeline round trip at most
	DefaultPublishQueue      = 65536            // publishes waiting for Redis; more fail with cluster_unavailable
	DefaultStateQueue        = 65536            // joins/leaves waiting for Redis; more fail with cluster_unavailable
	DefaultRoomScanInterval  = 10 * time.Second // room lists SCAN for reference-app rooms (not in our index) at most this often
)
