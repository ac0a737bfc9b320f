package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/rooms"
)

// Server is one chat node.
type Server struct {
	cfg      Config
	eng      *eventloop.Engine
	rooms    *rooms.Registry
	broker   Broker
	users    *userIndex
	perIP    *connsPerIP // Config.MaxConnsPerIP; nil when off
	metrics  *metrics
	base     time.Time
	ready    atomic.Bool    // accepting clients (false before Start and while draining)
	draining atomic.Bool    // Drain has begun: requests are refused
	leaving  sync.WaitGroup // leaves handed to the broker and not yet published
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
		cfg.Broker = NewMemoryBroker()
	}
	s := &Server{cfg: cfg, broker: cfg.Broker, users: newUserIndex(), metrics: newMetrics(), base: time.Now()}
	s.metrics.reg.MustRegister(transportCollector{s})
	s.perIP = newPerIPLimit(cfg.MaxConnsPerIP, s.metrics)
	if rb, ok := cfg.Broker.(*RedisBroker); ok {
		s.metrics.reg.MustRegister(redisCollector{rb})
		rb.onPublishTrip = func(d time.Duration) { s.metrics.publishLatency.Observe(d.Seconds()) }
	} else {
		s.metrics.reg.Unregister(s.metrics.publishLatency) // no Redis, no round trips
	}
	return s, nil
}

// Start listens and serves until Shutdown.
func (s *Server) Start() error {
	// TODO(integration, issue 15): exempt s.cfg.TrustedProxies from the per-address pending-handshake limit (it counts TCP peers: behind a proxy, all of them).
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
	})
	if err != nil {
		return err
	}
	// Everything the handler touches exists before the first connection:
	// the loops start last.
	s.eng = eng
	s.rooms = rooms.New(eng)
	if err := s.broker.Start(s); err != nil {
		return fmt.Errorf("server: start broker: %w", err)
	}
	if err := eng.Start(); err != nil {
		_ = s.broker.Close()
		return err
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
	s.eng.StopAccepting()
	err := s.eng.EachConn(ctx, func(c *eventloop.Conn) {
		if sess, ok := c.Value().(*session); ok && sess.room != nil {
			sess.leave(false, nil)
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

// Deliver implements Deliverer: one event, one frame, to every local member
// of the room except the excluded user.
func (s *Server) Deliver(room string, frame []byte, excludeUserID string) {
	var ex *eventloop.Conn
	if excludeUserID != "" {
		if sess := s.users.get(excludeUserID); sess != nil {
			ex = sess.c
		}
	}
	r := s.rooms.Get(room)
	if r == nil {
		return
	}
	s.eng.Fanout(frame, r, ex)
	s.metrics.fanout(r.LocalCount())
}

// publishPresence announces a join or leave to the room.
func (s *Server) publishPresence(typ string, m Member, count int, exclude string) {
	s.broker.Publish(&Event{Room: m.RoomID, ExcludeUserID: exclude,
		Payload: &Presence{Type: typ, Username: m.Username, UserID: m.UserID, MemberCount: count}}, nil)
}
