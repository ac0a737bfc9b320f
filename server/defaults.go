package server

import (
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/api"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/hooks"
	"github.com/chatd/chatd/server/sink"
)

// Every operational default of chatd, in one place. Each is the value a zero
// Config field (and a flag left unset) takes. The transport's own defaults
// are defined in eventloop/defaults.go, the cluster's in
// server/broker/defaults.go, and repeated here by name so that this file is
// the complete table.
const (
	DefaultAddr             = eventloop.DefaultAddr             // listen address (the PORT env var overrides the port)
	DefaultMaxMessageBytes  = eventloop.DefaultMaxMessageBytes  // 64 KiB: largest inbound message; larger closes 1009
	DefaultMaxHeaderBytes   = eventloop.DefaultMaxHeaderBytes   // 8 KiB: largest upgrade request head; larger gets 431
	DefaultMaxOutboundBytes = eventloop.DefaultMaxOutboundBytes // 1 MiB queued per connection; more closes 4008
	DefaultHandshakeTimeout = eventloop.DefaultHandshakeTimeout // 10 s to send the upgrade request
	DefaultPingInterval     = eventloop.DefaultPingInterval     // 30 s: ping a quiet connection
	DefaultIdleTimeout      = eventloop.DefaultIdleTimeout      // 75 s without inbound traffic closes 1001
	DefaultCloseTimeout     = eventloop.DefaultCloseTimeout     // 3 s to answer our close frame
	DefaultHelloTimeout     = 5 * time.Second                   // a v2 connection must say hello within this, or it is closed (4002)
	DefaultCoalesceDelay    = eventloop.DefaultCoalesceDelay    // 0: room events are written at once (see -coalesce-delay)

	DefaultPingRate              = eventloop.DefaultPingRate              // 10 pings/s per connection over time; past the burst, more close 1008
	DefaultPingBurst             = eventloop.DefaultPingBurst             // 20 pings at once per connection
	DefaultMaxContinuationFrames = eventloop.DefaultMaxContinuationFrames // 1024 continuation frames per message; more close 1009
	DefaultMaxPendingPerIP       = eventloop.DefaultMaxPendingPerIP       // 64 connections per peer address still in their handshake while the node is under handshake pressure; more get 503 at once
	DefaultPendingPressure       = eventloop.DefaultPendingPressure       // 4096 handshakes in progress node-wide (at most a quarter of MaxTCPConns): from there on, MaxPendingPerIP applies
	DefaultMaxNodeOutboundBytes  = eventloop.DefaultMaxNodeOutboundBytes  // 256 MiB queued for all connections together; past it the largest queues close 4008
	DefaultMaxBodyBytes          = eventloop.DefaultMaxBodyBytes          // 64 KiB: largest plain HTTP request body on the main port (-api-on-main); larger gets 413

	DefaultMaxTCPConns         = 0                                  // TCP connections per node; 0 = the file limit minus 256 minus 4 per loop (see eventloop/fdlimit.go)
	DefaultMaxConns            = 0                                  // open WebSockets and HTTP streams per node; 0 = unlimited (the file limit still applies)
	DefaultMaxUsernameBytes    = 64                                 // username length in bytes
	DefaultMaxRoomIDBytes      = 128                                // roomId length in bytes
	DefaultMaxRoomNameBytes    = 128                                // roomName length in bytes
	DefaultRateLimit           = 20.0                               // requests per second per connection (token bucket rate)
	DefaultRateBurst           = 40                                 // token bucket size
	DefaultRateAbuseRefusals   = 100                                // refusals within RateAbuseWindow that close the connection (1008)
	DefaultRateAbuseWindow     = 10 * time.Second                   // window for DefaultRateAbuseRefusals
	DefaultUserRateLimit       = 50.0                               // requests per second of one user's connections together (token users), per node
	DefaultUserRateBurst       = 100                                // ... bucket size
	DefaultAddrRateLimit       = -1.0                               // requests per second of one client address's connections together, per node; off (-1): NAT and load generators share addresses
	DefaultAddrRateBurst       = 400                                // ... bucket size, when on
	DefaultUserRoomCreateRate  = 0.1                                // rooms one user with a token may create per second, per node (6 a minute)
	DefaultUserRoomCreateBurst = 20                                 // ... at once
	DefaultAddrRoomCreateRate  = 1.0                                // rooms one client address may create per second without a token, per node (after the burst)
	DefaultAddrRoomCreateBurst = 500                                // ... at once: a load test's or a NAT's share, far below what fills a Redis
	DefaultNoticeRoomSize      = 500                                // rooms with more members get sampled joined/left notices
	DefaultNoticeRate          = 2.0                                // joined/left notices per second per such room and node
	DefaultNoticeBurst         = 10                                 // ... bucket size
	DefaultMaxRoomsPerConn     = 64                                 // rooms one v2 connection may be in; more: too_many_rooms
	DefaultPresenceMax         = 1000                               // members in one presence reply at most (then truncated: true)
	DefaultPresenceCache       = time.Second                        // one read of a room's members serves the node's presence requests this long
	DefaultTypingInterval      = 300 * time.Millisecond             // one typing notice per connection and room forwarded per this at most
	DefaultHistoryLimit        = 100                                // messages in one v2 join (history: N) or history reply at most
	DefaultHistorySize         = broker.DefaultHistorySize          // stored messages per room
	DefaultHistoryAge          = broker.DefaultHistoryAge           // stored messages older than this are gone; an idle room's history expires after it
	DefaultHistoryMaxBytes     = broker.DefaultHistoryMaxBytes      // without Redis: bytes of history per node; past it the least recently written rooms lose theirs
	DefaultHistoryRoomBytes    = broker.DefaultHistoryRoomBytes     // bytes of stored messages per room (payloads plus 14 each); past it the oldest go
	DefaultRoomListMax         = 500                                // rooms in a v1 roomList reply at most (those with the most members)
	DefaultRoomListRefresh     = 2 * time.Second                    // the node's shared room list is rebuilt at most this often
	DefaultRoomListInterval    = time.Second                        // a connection may ask for the room list this often over time
	DefaultRoomListBurst       = 50                                 // v2 room list pages a connection may ask for in a row (a 20,000-room list at 500 a page is 40)
	DefaultMaxQueuedRequests   = 64                                 // requests waiting behind a slow one (e.g. a join); more are refused
	DefaultBrokerTimeout       = broker.DefaultOpTimeout            // a cluster request (join, leave, room list) fails after this
	DefaultShutdownTimeout     = 10 * time.Second                   // graceful stop gives up after this
	DefaultDrainWindow         = 5 * time.Second                    // a draining node closes its clients spread over this window
	DefaultWebSocketPaths      = "/,/ws"                            // paths that accept upgrades
	DefaultStreamPath          = "/stream"                          // the HTTP streaming fallback (v2 over SSE and POSTs) answers here
	DefaultStreamResume        = eventloop.DefaultStreamResume      // 10 s: a stream whose connection dropped keeps its session this long for a resume
	DefaultStreamReplayBytes   = eventloop.DefaultStreamReplayBytes // 64 MiB of stream events retained node-wide for resumes (each stream: its newest 64, 64 KiB)
	DefaultStreamBatch         = 64                                 // requests in one stream POST at most; more: 413
	DefaultAllowedOrigins      = ""                                 // empty: same host (any port) or no Origin header; "*" allows all
	DefaultTrustedProxies      = ""                                 // CIDRs whose X-Forwarded-For/X-Real-IP/X-Forwarded-Host are believed; empty: none
	DefaultMaxConnsPerIP       = 0                                  // open WebSockets per client address; 0 = off (NAT and proxies share addresses)
	DefaultMetricsOnMain       = "auto"                             // /metrics on the main port: auto = off when -admin is set, on otherwise
	DefaultGCPercent           = 50                                 // Go GC target (GOGC): RSS ~1.5x the live heap after a burst, not 2x (Go's default, 100)
	DefaultReclaimAfter        = 2 * time.Second                    // once a burst of connections and joins has been quiet this long, one full GC returns free memory to the OS (negative: never)
	DefaultLogFormat           = "text"                             // log format: text or json
	DefaultLogLevel            = "info"                             // log level: debug, info, warn or error (no per-message logs at info)
	DefaultAdminAddr           = ""                                 // separate listener for /metrics, /healthz, /readyz; empty: main port only
	DefaultSubscribeLinger     = broker.DefaultSubscribeLinger      // keep a room's Redis subscription this long after its last local member left
	DefaultHeartbeatInterval   = broker.DefaultHeartbeatInterval    // node heartbeat refresh period (cluster mode)
	DefaultHeartbeatTTL        = broker.DefaultHeartbeatTTL         // a node whose heartbeat is this old is dead; its members are removed
	DefaultRedisDialTimeout    = broker.DefaultDialTimeout          // connecting to Redis (no flag: the Redis broker applies broker.DefaultDialTimeout)
	DefaultRedisMaxBackoff     = broker.DefaultMaxBackoff           // reconnect backoff cap (no flag: the Redis broker applies broker.DefaultMaxBackoff)
	DefaultPublishBatch        = broker.DefaultPublishBatch         // publishes per Redis pipeline round trip at most
	DefaultPublishQueue        = broker.DefaultPublishQueue         // publishes waiting for Redis; more fail with cluster_unavailable
	DefaultStateQueue          = broker.DefaultStateQueue           // joins/leaves waiting for Redis; more fail with cluster_unavailable
	DefaultRoomScanInterval    = broker.DefaultRoomScanInterval     // room lists SCAN for reference-app rooms (not in our index) at most this often
	DefaultRedisNoticeWait     = broker.DefaultNoticeWait           // a join its Redis script announced waits this long for the announcement to pass its node (no flag), then completes without that place

	DefaultAuth            = "off"                   // -auth: off (self-declared names, as the reference app), optional or required
	DefaultJWTLeeway       = 5 * time.Second         // clock skew allowed on a token's exp, nbf and iat
	DefaultJWKSPoll        = 2 * time.Second         // key files (-jwt-jwks, -jwt-public-key) are checked for a change this often
	DefaultMaxTokenBytes   = 8192                    // a longer token is refused unparsed (too_large)
	DefaultMaxUserIDBytes  = 128                     // a token's sub (the user id) in bytes
	DefaultMaxTokenRooms   = 256                     // entries of a token's rooms claim at most
	DefaultTokenSweep      = time.Second             // connections whose token expired are closed (4001) within this
	DefaultGuestRooms      = ""                      // rooms a guest (-auth optional, no token) may join: none
	DefaultAPIKey          = ""                      // the server API is off until a key is set
	DefaultAPIMinKeyBytes  = api.MinKeyBytes         // a shorter -api-key is refused at start
	DefaultAPIMaxBodyBytes = api.DefaultMaxBodyBytes // largest server API request body; larger gets 413
	DefaultAPITimeout      = api.DefaultTimeout      // a server API request that needs the cluster fails (503) after this
	DefaultAPIHistoryLimit = 50                      // messages in a server API history page when no limit is given
	MaxAPIHistoryLimit     = 1000                    // messages in a server API history page at most

	DefaultHookConnectTimeout  = hooks.DefaultConnectTimeout // a connect hook call fails after this (the client waits for its greeting)
	DefaultHookJoinTimeout     = hooks.DefaultJoinTimeout    // a join hook call fails after this
	DefaultHookPublishTimeout  = hooks.DefaultPublishTimeout // a publish hook call fails after this (it adds to the message's latency)
	DefaultHookOnFailure       = hooks.DefaultOnFailure      // a failed hook call (timeout, error, non-2xx, bad answer, overload) refuses the request
	DefaultHookMaxInFlight     = hooks.DefaultMaxInFlight    // calls of one hook at the backend at once (and its keep-alive connections)
	DefaultHookMaxQueued       = hooks.DefaultMaxQueued      // calls of one hook waiting for a slot; more fail at once
	DefaultHookMaxQueuedBytes  = hooks.DefaultMaxQueuedBytes // bytes of the requests of one hook waiting; more fail at once
	DefaultHookMaxPerRoom      = hooks.DefaultMaxPerKey      // calls of one hook waiting or in flight for one room (connect: one client address)
	DefaultHookConnectHeaders  = ""                          // request headers of the upgrade the connect hook forwards (e.g. Cookie): none
	DefaultHookMinSecretBytes  = hooks.MinSecretBytes        // a shorter -hook-secret is refused at start
	DefaultHookMaxAnswerBytes  = hooks.MaxAnswerBytes        // a longer hook answer is a failure (invalid)
	DefaultHookMaxRefusalBytes = hooks.MaxRefusalBytes       // a backend's refusal message is cut to this

	DefaultSinkURL           = ""                        // the message sink is off until its URL is set
	DefaultSinkTimeout       = sink.DefaultTimeout       // a sink POST without a complete answer within this fails (retried)
	DefaultSinkBatchMessages = sink.DefaultBatchMessages // messages per sink POST at most
	DefaultSinkBatchBytes    = sink.DefaultBatchBytes    // bytes of messages per sink POST at most (a bigger single message goes alone)
	DefaultSinkMinBackoff    = sink.DefaultMinBackoff    // the first retry of a failed sink POST waits about this (doubling, jittered)
	DefaultSinkMaxBackoff    = sink.DefaultMaxBackoff    // retries of a failed sink POST wait at most this
	DefaultSinkMaxAge        = sink.DefaultMaxAge        // a message the sink's backend has not acknowledged within this is dropped (counted, logged)
	DefaultSinkMaxBacklog    = sink.DefaultMaxBacklog    // messages waiting in one sink queue; more are dropped (counted, logged)
	DefaultSinkMaxMemory     = sink.DefaultMaxMemory     // without Redis: bytes of messages waiting for the sink; more are dropped (counted, logged)
	DefaultSinkShards        = sink.DefaultShards        // sink queues on one Redis (leases on a Redis Cluster): consumed by up to this many nodes at once
	DefaultSinkLeaseTTL      = sink.DefaultLeaseTTL      // a dead node's sink shards are taken over this long after its last lease renewal
	DefaultSinkPoll          = sink.DefaultPoll          // an empty sink shard is read again after this
)

// chatd_history_bytes sampling with Redis (no flags: README, Redis memory).
const (
	DefaultHistorySampleKeys  = broker.DefaultHistorySampleKeys     // random keys per master in one sample
	DefaultHistorySampleEvery = broker.DefaultHistorySampleInterval // a scrape starts a new sample at most this often
)
