package eventloop

import "time"

// Transport defaults. A zero field in Config takes the value here; the
// server's defaults file (server/defaults.go) lists these beside the chat
// defaults so operators find every default in one table.
const (
	DefaultAddr                 = ":8080"          // listen address
	DefaultMaxMessageBytes      = 64 << 10         // largest inbound message after reassembly; larger closes 1009
	DefaultMaxHeaderBytes       = 8 << 10          // largest upgrade request head; larger gets 431
	DefaultHandshakeTimeout     = 10 * time.Second // a request head must arrive within this after accept
	DefaultPingInterval         = 30 * time.Second // ping a connection that has been quiet this long
	DefaultIdleTimeout          = 75 * time.Second // close a connection with no inbound traffic this long (1001)
	DefaultCloseTimeout         = 3 * time.Second  // after our close frame, wait this long for the peer's (a protocol error closes TCP at once)
	DefaultMaxOutboundBytes     = 1 << 20          // queued outbound bytes per connection; more closes 4008
	DefaultMaxNodeOutboundBytes = 256 << 20        // queued outbound bytes of all connections together; past it the largest queues close 4008
	DefaultTCPKeepAlive         = 60 * time.Second // TCP keepalive period
	DefaultTickInterval         = time.Second      // timer sweep period (shortened for short timeouts)
	DefaultCoalesceDelay        = 0                // hold fanned-out frames this long to batch writes; 0: write at once

	DefaultPingRate              = 10.0 // pings per second a connection may send over time; beyond the burst, more close 1008
	DefaultPingBurst             = 20   // pings a connection may send at once (at most maxPingBurst)
	DefaultMaxContinuationFrames = 1024 // continuation frames per message; more close 1009
	DefaultMaxPendingPerIP       = 64   // connections from one address still in their handshake while the node is under handshake pressure; more get 503 at once
	DefaultPendingPressure       = 4096 // handshakes in progress node-wide from which MaxPendingPerIP applies (at most a quarter of MaxTCPConns)

	DefaultMaxBodyBytes = 64 << 10 // largest plain HTTP request body (Content-Length); larger gets 413

	DefaultStreamResume      = 10 * time.Second // an event stream whose TCP connection went away waits this long to be resumed
	DefaultStreamReplayBytes = 64 << 20         // events retained node-wide for stream resumes (each stream: its newest 64, at most 64 KiB)
)

// maxPingBurst is the largest PingBurst: the count lives in one byte of Conn.
const maxPingBurst = 255
