package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/rooms"
	"github.com/chatd/chatd/server/broker"
	"github.com/prometheus/client_golang/prometheus"
)

// Node is the chat state of one node: its sessions, its rooms' local
// members, its way to the cluster, the shared room list, tokens. It
// implements broker.Receiver (deliver.go).
type Node struct {
	cfg      Config
	eng      *eventloop.Engine
	rooms    *rooms.Registry
	broker   broker.Broker
	protos   []Protocol // by member class
	conns    *connIndex
	list     roomLister
	presence presenceCache
	notices  noticeLimit
	// The request limits shared by a user's and by an address's
	// connections, and their room creations (sharedlimit.go).
	userLimit, addrLimit       *sharedLimit
	createByUser, createByAddr *sharedLimit
	ident                      *identity
	hk                         hookState // what the hooks leave per session (hooks.go)
	m                          *Metrics
	base                       time.Time
	draining                   atomic.Bool   // Drain has begun: requests are refused
	leaving                    inflight      // leaves handed to the broker and not yet published
	stop                       chan struct{} // closed by Drain
	chans                      channels      // node channels and their handlers (channels.go)
}

// New prepares the core of a node that serves protos (member class i is
// protos[i]) and reaches its cluster through b. Its metrics are registered
// with reg.
func New(cfg Config, b broker.Broker, protos []Protocol, reg prometheus.Registerer) (*Node, error) {
	if b == nil {
		return nil, errors.New("chat: a broker is required")
	}
	if len(protos) == 0 || len(protos) > 255 {
		return nil, fmt.Errorf("chat: %d protocols: want 1 to 255", len(protos))
	}
	n := &Node{cfg: cfg, broker: b, protos: protos, conns: newConnIndex(), base: time.Now(), stop: make(chan struct{})}
	n.list.n = n
	n.userLimit = newSharedLimit(cfg.UserRateLimit, cfg.UserRateBurst)
	n.addrLimit = newSharedLimit(cfg.AddrRateLimit, cfg.AddrRateBurst)
	n.createByUser = newSharedLimit(cfg.UserRoomCreateRate, cfg.UserRoomCreateBurst)
	n.createByAddr = newSharedLimit(cfg.AddrRoomCreateRate, cfg.AddrRoomCreateBurst)
	n.m = newMetrics(n, reg)
	n.registerHookMetrics(reg)
	if err := n.initIdentity(); err != nil {
		return nil, err
	}
	return n, nil
}

// Attach gives the node its transport, before the transport's loops start
// (the room registry delivers through it).
func (n *Node) Attach(eng *eventloop.Engine) {
	n.eng = eng
	n.rooms = rooms.New(eng, len(n.protos))
}

// Start begins the node's own work once the broker and the transport run:
// the token expiry sweep and the cluster control room.
func (n *Node) Start() {
	n.startExpiry()
	n.subscribeControl()
}

// Draining reports whether Drain has begun.
func (n *Node) Draining() bool { return n.draining.Load() }

// Drain refuses further requests, stops the node's own work, and announces
// every local member's leave to the cluster at once (so that other nodes'
// counts drop now, not after the heartbeat TTL). It returns once the leaves
// reached the broker, or when ctx ends.
func (n *Node) Drain(ctx context.Context) error {
	if !n.draining.Swap(true) {
		close(n.stop)
		n.stopIdentity()
	}
	err := n.eng.EachConn(ctx, func(c *eventloop.Conn) {
		if s, ok := c.Value().(*Session); ok {
			s.exitAll()
		}
	})
	if err != nil {
		return err
	}
	return n.leaving.wait(ctx)
}

// Logger returns the node's logger.
func (n *Node) Logger() *slog.Logger { return n.cfg.Logger }

// NodeID returns the node's name in the cluster.
func (n *Node) NodeID() string { return n.cfg.NodeID }

// Config returns the node's configuration.
func (n *Node) Config() *Config { return &n.cfg }

// Broker returns the node's way to the cluster.
func (n *Node) Broker() broker.Broker { return n.broker }

// Metrics returns the node's counters.
func (n *Node) Metrics() *Metrics { return n.m }

// Rooms returns the number of rooms with local members.
func (n *Node) Rooms() int {
	if n.rooms == nil {
		return 0
	}
	return n.rooms.Len()
}

// now is the node's monotonic clock in nanoseconds.
func (n *Node) now() int64 { return int64(time.Since(n.base)) }

// ms is the node's clock in milliseconds, in 32 bits (differences stay
// right across the wrap), never 0.
func (n *Node) ms() uint32 { return uint32(n.now()/1e6) | 1 }

// isUnavailable reports whether a broker error means "the cluster cannot be
// reached" (as opposed to a refusal).
func isUnavailable(err error) bool { return errors.Is(err, broker.ErrUnavailable) }

// isStorageFull reports whether a broker error means "the cluster's store
// is out of memory": the write was refused, nothing was stored.
func isStorageFull(err error) bool { return errors.Is(err, broker.ErrStorageFull) }

// logClusterError logs a failed cluster request: at debug level when the
// cluster is simply unreachable (the broker logs each outage once), at warn
// level otherwise.
func (n *Node) logClusterError(msg string, err error, args ...any) {
	lv := slog.LevelWarn
	if isUnavailable(err) {
		lv = slog.LevelDebug
	}
	n.cfg.Logger.Log(context.Background(), lv, msg, append(args, "err", err)...)
}
