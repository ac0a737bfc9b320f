package eventloop

import (
	"errors"
	"log/slog"
	"runtime"
	"time"
)

// Config configures an Engine. Every zero field takes the default named in
// its comment (see defaults.go).
type Config struct {
	// Addr is the TCP listen address, "host:port". Zero: DefaultAddr. Port 0
	// picks a free port; Engine.Addr reports it.
	Addr string
	// Loops is the number of event loops. Zero: one per CPU.
	Loops int
	// ReusePort lets several processes share the port (SO_REUSEPORT).
	// Without it the port is exclusive: Start fails if anything listens on
	// it. (The engine's own listeners, one per loop, always use SO_REUSEPORT;
	// see listen.go.) SO_REUSEADDR is always on. Zero: off.
	ReusePort bool
	// TCPKeepAlive is the TCP keepalive period. Zero: DefaultTCPKeepAlive;
	// negative: keepalive off.
	TCPKeepAlive time.Duration

	// MaxMessageBytes bounds an inbound message after reassembly; a frame
	// declaring more closes the connection with 1009 before its payload is
	// read. Zero: DefaultMaxMessageBytes.
	MaxMessageBytes int
	// MaxHeaderBytes bounds the upgrade request head. Zero:
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxOutboundBytes bounds the bytes queued for one connection; past it the
	// connection is closed with 4008 and counted. Zero:
	// DefaultMaxOutboundBytes.
	MaxOutboundBytes int
	// MaxConns bounds open WebSocket connections; further upgrades get 503.
	// Zero: unlimited (MaxTCPConns still applies).
	MaxConns int
	// MaxTCPConns bounds TCP connections, handshakes included; past it an
	// accepted socket gets 503 and is closed at once, before it can use up
	// the file descriptors (gnet stops the whole engine when accept fails
	// with EMFILE; see fdlimit.go). Zero: the file limit minus a reserve
	// (256, plus 4 per loop). Negative: no bound (not recommended).
	MaxTCPConns int

	// HandshakeTimeout drops a connection whose request head has not arrived
	// this long after accept. Zero: DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// PingInterval is how long a connection may be quiet before the server
	// pings it. Zero: DefaultPingInterval.
	PingInterval time.Duration
	// IdleTimeout closes (1001) a connection with no inbound traffic for this
	// long. Zero: DefaultIdleTimeout.
	IdleTimeout time.Duration
	// CloseTimeout is how long the server waits for the peer's close frame
	// after sending its own before dropping TCP. Zero: DefaultCloseTimeout.
	CloseTimeout time.Duration

	// CoalesceDelay holds frames posted to a loop from other goroutines
	// (fan-outs, Send) for this long before writing them, so that a busy
	// connection gets several frames per write system call: less CPU per
	// delivery for up to this much extra latency. Replies written inside
	// callbacks are not delayed. Zero: write at once (batching then happens
	// only when the loop is busy).
	CoalesceDelay time.Duration

	// Handler receives requests, messages and closes. Required.
	Handler Handler
	// Logger receives transport logs. Zero: slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with zero fields filled in.
func (c Config) withDefaults() (Config, error) {
	if c.Handler == nil {
		return c, errors.New("eventloop: Config.Handler is required")
	}
	setDefault(&c.Addr, DefaultAddr)
	setDefault(&c.Loops, runtime.NumCPU())
	setDefault(&c.TCPKeepAlive, DefaultTCPKeepAlive)
	setDefault(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	setDefault(&c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&c.MaxOutboundBytes, DefaultMaxOutboundBytes)
	setDefault(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&c.PingInterval, DefaultPingInterval)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.CloseTimeout, DefaultCloseTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	safe, limit := defaultMaxTCPConns(c.Loops)
	switch {
	case c.MaxTCPConns == 0:
		c.MaxTCPConns = safe
		if limit > 0 && limit < 8192 {
			c.Logger.Warn("the open file limit is low for a connection server; raise it (ulimit -n, LimitNOFILE)",
				"limit", limit, "max_tcp_conns", safe)
		}
	case c.MaxTCPConns > safe && safe > 0:
		c.Logger.Warn("MaxTCPConns leaves fewer file descriptors spare than the process needs beside its "+
			"connections: if they run out, accept fails with EMFILE and the engine stops",
			"max_tcp_conns", c.MaxTCPConns, "safe", safe, "file_limit", limit)
	}
	if c.Loops > 64 {
		return c, errors.New("eventloop: at most 64 loops")
	}
	if c.CoalesceDelay < 0 || c.CoalesceDelay > time.Second {
		return c, errors.New("eventloop: CoalesceDelay must be between 0 and 1s")
	}
	if c.MaxMessageBytes < 125 || c.MaxOutboundBytes < 1024 || c.MaxHeaderBytes < 256 {
		return c, errors.New("eventloop: limits too small (message ≥ 125, outbound ≥ 1024, header ≥ 256 bytes)")
	}
	return c, nil
}

// tickInterval is the timer sweep period: fine enough for the shortest
// timeout, at most DefaultTickInterval.
func (c Config) tickInterval() time.Duration {
	t := DefaultTickInterval
	for _, d := range []time.Duration{c.HandshakeTimeout, c.PingInterval, c.IdleTimeout, c.CloseTimeout} {
		t = min(t, d/4)
	}
	return max(t, time.Millisecond)
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
