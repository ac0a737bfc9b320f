package server

import (
	"log/slog"
	"net/netip"
	"time"
)

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
	// MaxConns bounds open WebSockets per node (503). Zero: unlimited.
	MaxConns int
	// MaxTCPConns bounds TCP connections so that the file descriptors never
	// run out (see eventloop.Config). Zero: derived from the file limit.
	MaxTCPConns int
	// HandshakeTimeout, PingInterval, IdleTimeout, CloseTimeout: see
	// eventloop.Config. Zero: the defaults of the same names.
	HandshakeTimeout, PingInterval, IdleTimeout, CloseTimeout time.Duration

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
	// MaxQueuedRequests bounds requests waiting behind an in-flight cluster
	// request. Zero: DefaultMaxQueuedRequests.
	MaxQueuedRequests int
	// BrokerTimeout bounds one cluster request. Zero: DefaultBrokerTimeout.
	BrokerTimeout time.Duration

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
	// NoMetricsOnMain stops serving /metrics on the main port (404);
	// AdminHandler still serves it. Zero: served.
	NoMetricsOnMain bool

	// Broker connects the node to the cluster. Zero: a MemoryBroker (one
	// node, no Redis).
	Broker Broker
	// NodeID names this node in logs and in the cluster. Zero: random.
	NodeID string
	// Logger receives logs. Zero: slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	setDefault(&c.Addr, DefaultAddr)
	setDefault(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	setDefault(&c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&c.MaxOutboundBytes, DefaultMaxOutboundBytes)
	setDefault(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&c.PingInterval, DefaultPingInterval)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.CloseTimeout, DefaultCloseTimeout)
	setDefault(&c.MaxUsernameBytes, DefaultMaxUsernameBytes)
	setDefault(&c.MaxRoomIDBytes, DefaultMaxRoomIDBytes)
	setDefault(&c.MaxRoomNameBytes, DefaultMaxRoomNameBytes)
	setDefault(&c.RateLimit, DefaultRateLimit)
	setDefault(&c.RateBurst, DefaultRateBurst)
	setDefault(&c.RateAbuseRefusals, DefaultRateAbuseRefusals)
	setDefault(&c.RateAbuseWindow, DefaultRateAbuseWindow)
	setDefault(&c.MaxQueuedRequests, DefaultMaxQueuedRequests)
	setDefault(&c.BrokerTimeout, DefaultBrokerTimeout)
	if c.NodeID == "" {
		c.NodeID = "node-" + newID()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
