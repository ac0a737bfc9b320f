package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/chat"
	"github.com/chatd/chatd/server/hooks"
	"github.com/chatd/chatd/server/httpstream"
	"github.com/chatd/chatd/server/sink"
	v1 "github.com/chatd/chatd/server/v1"
	v2 "github.com/chatd/chatd/server/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Member classes of the room registry: the protocols a node serves (a room
// event is encoded once per class with local members in the room).
const (
	classV1     = iota // the reference protocol over WebSocket
	classV2            // chatd's protocol v2 over WebSocket
	classStream        // protocol v2 over HTTP streaming (SSE down, POSTs up; server/httpstream)
)

// Server is one chat node.
type Server struct {
	cfg     Config
	eng     *eventloop.Engine
	node    *chat.Node
	broker  broker.Broker
	perIP   *connsPerIP   // Config.MaxConnsPerIP; nil when off
	hooks   *hooks.Client // Config.Hooks; nil when no hook is on
	sink    *sink.Sink    // Config.Sink; nil when off
	metrics *metrics
	ready   atomic.Bool // accepting clients (false before Start and while draining)
	ctx     context.Context
	stop    context.CancelFunc // ends ctx: the node's work off the loops (server API calls) ends with Drain

	apiHandler http.Handler // the server API; nil without an APIKey

	stream *httpstream.Carrier // the HTTP streaming carrier; nil with NoStream
}

// New checks the configuration and prepares a node; Start runs it.
func New(cfg Config) (*Server, error) {
	if !chat.SonicNative() {
		return nil, errors.New("server: sonic is not on its native path on this Go version/architecture; refusing to run slow")
	}
	if err := chat.Pretouch(append(v1.Types(), v2.Types()...)...); err != nil {
		return nil, fmt.Errorf("server: pretouch codecs: %w", err)
	}
	cfg = cfg.withDefaults()
	if cfg.Broker == nil {
		return nil, errors.New("server: Config.Broker is required (cmd/chatd wires the memory broker when there is no Redis)")
	}
	s := &Server{cfg: cfg, broker: cfg.Broker, metrics: newMetrics()}
	s.ctx, s.stop = context.WithCancel(context.Background())
	protos := make([]chat.Protocol, 3)
	protos[classV1] = v1.New(chat.WebSocketText)
	protos[classV2] = v2.New(chat.WebSocketText)
	protos[classStream] = v2.New(httpstream.SSE)
	hk, err := newHooks(&cfg, s.metrics.reg)
	if err != nil {
		return nil, err
	}
	s.hooks = hk
	if s.sink, err = newSink(&cfg, s.metrics.reg); err != nil {
		s.hooks.Close()
		return nil, err
	}
	core := cfg.core()
	core.Hooks = s.hooks
	node, err := chat.New(core, cfg.Broker, protos, s.metrics.reg)
	if err != nil {
		s.hooks.Close()
		s.closeSink()
		return nil, err
	}
	s.node = node
	h, err := s.APIHandler()
	if err != nil {
		s.hooks.Close()
		s.closeSink()
		return nil, fmt.Errorf("server: %w", err)
	}
	s.apiHandler = h
	s.metrics.reg.MustRegister(transportCollector{s})
	s.perIP = newPerIPLimit(cfg.MaxConnsPerIP, s.metrics)
	if !cfg.NoStream {
		s.stream = s.newStreamCarrier() // stream.go
	}
	if c, ok := cfg.Broker.(prometheus.Collector); ok {
		// A broker with metrics of its own (the Redis broker's round trips,
		// outages, ...).
		s.metrics.reg.MustRegister(c)
	}
	return s, nil
}

// closeSink stops a sink that never started (New failed after making it).
func (s *Server) closeSink() {
	if s.sink != nil {
		s.sink.Close(context.Background())
	}
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
		StreamResume:          s.cfg.StreamResume,
		StreamReplayBytes:     s.cfg.StreamReplayBytes,
		// A trusted proxy brings many clients' handshakes from one address.
		PendingExemptPeers: slices.Concat(s.cfg.PendingExemptPeers, s.cfg.TrustedProxies),
	})
	if err != nil {
		return err
	}
	// Everything the handler touches exists before the first connection:
	// the loops start last.
	s.eng = eng
	s.node.Attach(eng)
	if err := s.broker.Start(s.node); err != nil {
		return fmt.Errorf("server: start broker: %w", err)
	}
	if err := eng.Start(); err != nil {
		_ = s.broker.Close()
		return err
	}
	s.node.Start()
	s.startReclaimer()
	if s.sink != nil {
		s.sink.Start()
	}
	if s.stream != nil {
		s.stream.Start()
	}
	s.ready.Store(true)
	s.cfg.Logger.Info("chatd node listening", "addr", eng.Addr(), "loops", eng.NumLoops(), "node", s.cfg.NodeID,
		"max_tcp_conns", eng.MaxTCPConns())
	return nil
}

// Addr returns the bound listen address.
func (s *Server) Addr() string { return s.eng.Addr() }

// Logger returns the node's logger.
func (s *Server) Logger() *slog.Logger { return s.cfg.Logger }

// ReloadKeys re-reads the token key files (chatd calls it on SIGHUP). A
// failed reload keeps the keys in use.
func (s *Server) ReloadKeys() error { return s.node.ReloadKeys() }

// Shutdown stops the node gracefully at once: Drain with no window.
func (s *Server) Shutdown(ctx context.Context) error { return s.Drain(ctx, 0) }

// Drain stops the node gracefully: it turns not ready, refuses new clients
// and requests, announces every local member's leave to the cluster at once
// (so other nodes' counts drop now, not after the heartbeat TTL), closes the
// clients with 1001 spread over window (so they do not reconnect elsewhere
// all in the same instant), and stops. ctx bounds the whole of it.
func (s *Server) Drain(ctx context.Context, window time.Duration) error {
	s.ready.Store(false)
	s.eng.StopAccepting()
	err := s.node.Drain(ctx)
	if derr := s.eng.Drain(ctx, window); err == nil {
		err = derr
	}
	if s.sink != nil {
		// After the last message was stored: with the memory broker the
		// queue is flushed (within ctx); leases go to the other nodes.
		s.sink.Close(ctx)
	}
	if cerr := s.broker.Close(); err == nil {
		err = cerr
	}
	s.hooks.Close() // calls still out end as failed; their connections are gone
	s.stop()
	return err
}
