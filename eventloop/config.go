package eventloop

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
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
	// MaxOutboundBytes bounds the bytes queued for one connection, control
	// frames (pongs, pings) included; past it the connection is closed with
	// 4008 and counted. Zero: DefaultMaxOutboundBytes.
	MaxOutboundBytes int
	// MaxNodeOutboundBytes bounds the bytes queued for all connections
	// together (each counted as for MaxOutboundBytes). Past it the
	// connections with the largest queues are closed with 4008 until the
	// node is back under it, counted in Stats.BudgetCloses (budget.go).
	// Zero: DefaultMaxNodeOutboundBytes; negative: no bound.
	MaxNodeOutboundBytes int
	// MaxConns bounds open WebSocket connections and event streams
	// (detached ones included); further upgrades get 503, further streams
	// ErrNodeFull. Zero: unlimited (MaxTCPConns still applies).
	MaxConns int
	// MaxTCPConns bounds TCP connections, handshakes included; past it an
	// accepted socket gets 503 and is closed at once, before it can use up
	// the file descriptors (gnet stops the whole engine when accept fails
	// with EMFILE; see fdlimit.go). Zero: the file limit minus a reserve
	// (256, plus 4 per loop). Negative: no bound (not recommended).
	MaxTCPConns int

	// MaxContinuationFrames bounds the continuation frames of one message:
	// the bytes are bounded by MaxMessageBytes, but a million empty frames
	// also make one message. More close the connection with 1009, like a
	// message over the byte limit. Zero: DefaultMaxContinuationFrames;
	// negative: no bound.
	MaxContinuationFrames int
	// PingRate is how many pings per second a connection may send over time,
	// PingBurst how many at once (1 to 255). Every ping costs the server a
	// pong; past the budget the connection closes with 1008 and is counted
	// in Stats.PingAbuseCloses. Zero: DefaultPingRate, DefaultPingBurst.
	// Negative PingRate: no limit.
	PingRate  float64
	PingBurst int
	// MaxPendingPerIP bounds the TCP connections from one peer address that
	// have not completed the upgrade (IPv4-mapped IPv6 counts as IPv4) while
	// the node is under handshake pressure (PendingPressure), so that one
	// address cannot fill the node with silent connections until the
	// handshake timeout. Past it a new connection from that address gets 503
	// at once, counted as handshake failure "pending_per_ip"; other addresses
	// are unaffected. Zero: DefaultMaxPendingPerIP; negative: no bound.
	MaxPendingPerIP int
	// PendingPressure is the number of handshakes in progress node-wide
	// (from peers MaxPendingPerIP applies to) from which MaxPendingPerIP
	// applies. Below it an address may start any number of handshakes: an
	// idle node takes a burst of thousands from one load generator or NAT.
	// A slow-handshake flood from one address fills the node up to this
	// many, then is refused while other addresses still get in (pending.go).
	// At most a quarter of MaxTCPConns (a larger value is lowered to it).
	// Zero: DefaultPendingPressure; negative: the bound always applies.
	PendingPressure int
	// PendingExemptPeers are peers MaxPendingPerIP does not apply to, such as
	// a trusted reverse proxy whose connections carry many users. Empty: none.
	PendingExemptPeers []netip.Prefix

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

	// StreamResume is how long an event stream (Request.Stream) whose TCP
	// connection went away keeps its place, retaining what is written to
	// it, for the client to resume it (Request.Resume). Zero:
	// DefaultStreamResume; negative: no resume (a stream ends with its
	// connection).
	StreamResume time.Duration
	// StreamReplayBytes bounds, node-wide, the bytes of events retained for
	// stream resumes (stream.go); each stream also retains at most its
	// newest 64 events, 64 KiB. Zero: DefaultStreamReplayBytes; negative:
	// nothing is retained (a resume succeeds only when the client missed
	// nothing).
	StreamReplayBytes int

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
	setDefault(&c.MaxNodeOutboundBytes, DefaultMaxNodeOutboundBytes)
	setDefault(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&c.PingInterval, DefaultPingInterval)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.CloseTimeout, DefaultCloseTimeout)
	setDefault(&c.MaxContinuationFrames, DefaultMaxContinuationFrames)
	setDefault(&c.PingRate, DefaultPingRate)
	setDefault(&c.PingBurst, DefaultPingBurst)
	setDefault(&c.MaxPendingPerIP, DefaultMaxPendingPerIP)
	setDefault(&c.StreamResume, DefaultStreamResume)
	setDefault(&c.StreamReplayBytes, DefaultStreamReplayBytes)
	c.PendingExemptPeers = unmapPrefixes(c.PendingExemptPeers)
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
	setDefault(&c.PendingPressure, DefaultPendingPressure)
	if c.MaxTCPConns > 0 && c.PendingPressure > c.MaxTCPConns/4 {
		// A threshold near the connection cap would let one address fill
		// the node before the per-address bound engages.
		c.PendingPressure = max(c.MaxTCPConns/4, 1)
	}
	if c.Loops > 64 {
		return c, errors.New("eventloop: at most 64 loops")
	}
	if c.CoalesceDelay < 0 || c.CoalesceDelay > time.Second {
		return c, errors.New("eventloop: CoalesceDelay must be between 0 and 1s")
	}
	if c.MaxNodeOutboundBytes > 0 && c.MaxNodeOutboundBytes < 1024 {
		return c, errors.New("eventloop: MaxNodeOutboundBytes must be at least 1024 (negative: no bound)")
	}
	if c.MaxMessageBytes < 125 || c.MaxOutboundBytes < 1024 || c.MaxHeaderBytes < 256 {
		return c, errors.New("eventloop: limits too small (message ≥ 125, outbound ≥ 1024, header ≥ 256 bytes)")
	}
	if c.PingBurst < 1 || c.PingBurst > maxPingBurst || math.IsNaN(c.PingRate) || c.PingRate > 1e6 {
		return c, fmt.Errorf("eventloop: PingBurst must be between 1 and %d and PingRate at most 1e6", maxPingBurst)
	}
	if c.MaxContinuationFrames > math.MaxInt32 || c.MaxPendingPerIP > math.MaxInt32 || c.PendingPressure > math.MaxInt32 {
		return c, errors.New("eventloop: MaxContinuationFrames, MaxPendingPerIP and PendingPressure must fit in 32 bits")
	}
	return c, nil
}

// unmapPrefixes rewrites IPv4-mapped IPv6 prefixes as IPv4 ones, since peer
// addresses are unmapped before they are matched; invalid prefixes are
// dropped.
func unmapPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		if a := p.Addr(); a.Is4In6() {
			p = netip.PrefixFrom(a.Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out
}

// tickInterval is the timer sweep period: fine enough for the shortest
// timeout, at most DefaultTickInterval.
func (c Config) tickInterval() time.Duration {
	t := DefaultTickInterval
	for _, d := range []time.Duration{c.HandshakeTimeout, c.PingInterval, c.IdleTimeout, c.CloseTimeout} {
		t = min(t, d/4)
	}
	if c.StreamResume > 0 {
		t = min(t, c.StreamResume/4)
	}
	return max(t, time.Millisecond)
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
