package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/rooms"
	"github.com/chatd/chatd/server/broker"
	"github.com/prometheus/client_golang/prometheus"
)

// Server is one chat node.
type Server struct {
	cfg      Config
	eng      *eventloop.Engine
	rooms    *rooms.Registry
	broker   broker.Broker
	conns    *connIndex
	roomList roomLister
	perIP    *connsPerIP // Config.MaxConnsPerIP; nil when off
	metrics  *metrics
	base     time.Time
	ready    atomic.Bool    // accepting clients (false before Start and while draining)
	draining atomic.Bool    // Drain has begun: requests are refused
	leaving  sync.WaitGroup // leaves handed to the broker and not yet published

	// Identity and the server API (identity.go, control.go, apibackend.go).
	ident      *identityState // tokens, their expiry, the cluster control room
	apiHandler http.Handler   // the server API; nil without an APIKey
}

// New checks the configuration and prepares a node; Start runs it.
func New(cfg Config) (*Server, error) {
	if !sonicNative() {
		return nil, errors.New("server: sonic is not on its native path on this Go version/architecture; refusing to run slow")
	}
	if err := pretouch(); err != nil {
		return nil, fmt.Errorf("server: pretouch codecs: %w", err)
	}
	cfg = cfg.withDefaults()
	if cfg.Broker == nil {
		return nil, errors.New("server: Config.Broker is required (cmd/chatd wires the memory broker when there is no Redis)")
	}
	s := &Server{cfg: cfg, broker: cfg.Broker, conns: newConnIndex(), metrics: newMetrics(), base: time.Now()}
	s.roomList.srv = s
	if err := s.initIdentity(); err != nil {
		return nil, err
	}
	h, err := s.APIHandler()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.apiHandler = h
	s.metrics.reg.MustRegister(transportCollector{s})
	s.perIP = newPerIPLimit(cfg.MaxConnsPerIP, s.metrics)
	if c, ok := cfg.Broker.(prometheus.Collector); ok {
		// A broker with metrics of its own (the Redis broker's round trips,
		// outages, ...).
		s.metrics.reg.MustRegister(c)
	}
	return s, nil
}

// Start listens and serves until Shutdown.
func (s *Server) Start() error {
	eng, err := eventloop.New(eventloop.Config{
		Addr:             s.cfg.Addr,
		Loops:            s.cfg.Loops,
		ReusePort:        s.cfg.ReusePort,
		MaxMessageBytes:  s.cfg.MaxMessageBytes,
		MaxHeaderBytes:   s.cfg.MaxHeaderBytes,
		MaxOutboundBytes: s.cfg.MaxOutboundBytes,
		MaxConns:         s.cfg.MaxConns,
		MaxTCPConns:      s.cfg.MaxTCPConns,
		HandshakeTimeout: s.cfg.HandshakeTimeout,
		PingInterval:     s.cfg.PingInterval,
		IdleTimeout:      s.cfg.IdleTimeout,
		CloseTimeout:     s.cfg.CloseTimeout,
		CoalesceDelay:    s.cfg.CoalesceDelay,
		Handler:          (*handler)(s),
		Logger:           s.cfg.Logger,

		MaxContinuationFrames: s.cfg.MaxContinuationFrames,
		PingRate:              s.cfg.PingRate,
		PingBurst:             s.cfg.PingBurst,
		MaxPendingPerIP:       s.cfg.MaxPendingPerIP,
		PendingPressure:       s.cfg.PendingPressure,
		MaxNodeOutboundBytes:  s.cfg.MaxNodeOutboundBytes,
		// A trusted proxy brings many clients' handshakes from one address.
		PendingExemptPeers: slices.Concat(s.cfg.PendingExemptPeers, s.cfg.TrustedProxies),
	})
	if err != nil {
		return err
	}
	// Everything the handler touches exists before the first connection:
	// the loops start last.
	s.eng = eng
	s.rooms = rooms.New(eng, numClasses)
	if err := s.broker.Start(s); err != nil {
		return fmt.Errorf("server: start broker: %w", err)
	}
	if err := eng.Start(); err != nil {
		_ = s.broker.Close()
		return err
	}
	s.startExpiry()
	s.subscribeControl()
	s.ready.Store(true)
	s.cfg.Logger.Info("chatd node listening", "addr", eng.Addr(), "loops", eng.NumLoops(), "node", s.cfg.NodeID,
		"max_tcp_conns", eng.MaxTCPConns())
	return nil
}

// Addr returns the bound listen address.
func (s *Server) Addr() string { return s.eng.Addr() }

// Logger returns the node's logger.
func (s *Server) Logger() *slog.Logger { return s.cfg.Logger }

// Shutdown stops the node gracefully at once: Drain with no window.
func (s *Server) Shutdown(ctx context.Context) error { return s.Drain(ctx, 0) }

// Drain stops the node gracefully: it turns not ready, refuses new clients,
// announces every local member's leave to the cluster at once (so other
// nodes' counts drop now, not after the heartbeat TTL), closes the clients
// with 1001 spread over window (so they do not reconnect elsewhere all in
// the same instant), and stops. ctx bounds the whole of it.
func (s *Server) Drain(ctx context.Context, window time.Duration) error {
	s.ready.Store(false)
	s.draining.Store(true)
	s.stopIdentity()
	s.eng.StopAccepting()
	err := s.eng.EachConn(ctx, func(c *eventloop.Conn) {
		if sess, ok := c.Value().(*session); ok {
			sess.exitAll()
		}
	})
	if err == nil {
		err = waitCtx(ctx, &s.leaving) // the leaves reached the broker
	}
	if derr := s.eng.Drain(ctx, window); err == nil {
		err = derr
	}
	if cerr := s.broker.Close(); err == nil {
		err = cerr
	}
	return err
}

// waitCtx waits for wg or ctx.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// now is the server's monotonic clock in nanoseconds.
func (s *Server) now() int64 { return int64(time.Since(s.base)) }
