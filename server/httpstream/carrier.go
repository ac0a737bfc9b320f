package httpstream

import (
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/chat"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Carrier. Every field is required unless it says what
// its zero value means; the server fills them from its own configuration.
type Config struct {
	// Node is the chat node whose sessions the carrier carries.
	Node *chat.Node
	// Class is the member class of v2 over this carrier (the node was built
	// with v2 framed by SSE at that index).
	Class int
	// Heartbeat is how often a client POSTs when it has nothing to send
	// (the node's ping interval): told to clients in the session event.
	Heartbeat time.Duration
	// ResumeWindow is how long a stream whose connection went away waits
	// for its resume (the transport's StreamResume); told to clients.
	// Zero or negative: no resume (told as 0).
	ResumeWindow time.Duration
	// RelayTimeout bounds a POST relayed to another node: past it the
	// client gets 503 session_unreachable and retries.
	RelayTimeout time.Duration
	// MaxBatch bounds the requests of one POST (413 batch_too_large).
	MaxBatch int
	// MaxMessageBytes bounds each request of a POST, as it bounds a
	// WebSocket message (413 message_too_big).
	MaxMessageBytes int
	// OriginAllowed applies the node's origin policy to a request (true
	// for one without Origin).
	OriginAllowed func(r *eventloop.Request) bool
	// ClientAddr is the client's address behind r (as the trusted proxies
	// tell it).
	ClientAddr func(r *eventloop.Request) netip.Addr
	// Peer is what the node's connect hook gets of the stream's request
	// (chat.Node.Open). Nil, or returning nil: none (no connect hook).
	Peer func(r *eventloop.Request) *chat.Peer
	// AcquireAddr counts one more connection from an address against the
	// node's per-address limit: the slot (0: not counted) and false when
	// the address is over the limit. Nil: no limit. The slot is released
	// when the session closes (chat.Session.IPSlot), by the server;
	// ReleaseAddr gives back a slot whose stream did not open.
	AcquireAddr func(netip.Addr) (int32, bool)
	ReleaseAddr func(int32)
	// Registerer takes the carrier's metrics.
	Registerer prometheus.Registerer
	// Logger takes its logs. Zero: slog.Default().
	Logger *slog.Logger
}

// Carrier is the HTTP streaming carrier of one node: it answers the stream
// path's requests (Serve), and relays POSTs between nodes.
type Carrier struct {
	cfg   Config
	node  *chat.Node
	self  string // this node's id
	key   string // this node's half of its session ids
	reg   *registry
	m     *metrics
	rid   atomic.Uint64 // relayed POSTs' numbers (from a random start: a restarted node does not take old answers)
	relay pendingRelays
}

// New prepares a carrier; Start subscribes it to its inbox.
func New(cfg Config) *Carrier {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	id := cfg.Node.NodeID()
	c := &Carrier{cfg: cfg, node: cfg.Node, self: id, key: nodeKey(id), reg: newRegistry()}
	c.rid.Store(rand.Uint64() >> 1)
	c.relay.m = map[uint64]*pendingRelay{}
	c.m = newMetrics(cfg.Registerer, c)
	return c
}

// Start subscribes the node to its inbox, through which other nodes relay
// POSTs for its sessions (relay.go). Call it once the node has started.
func (c *Carrier) Start() { c.node.Channel(inbox(c.self), c.receive) }

// Serve answers a request to the stream path: GET opens or resumes a
// stream, POST carries requests, OPTIONS is a CORS preflight. It runs on
// the request's event loop.
func (c *Carrier) Serve(r *eventloop.Request) *eventloop.Response {
	if !c.cfg.OriginAllowed(r) {
		c.m.refused(reasonOrigin)
		return errAnswer(403, codeOrigin, "Origin not allowed").response(nil)
	}
	cors := corsHeader(r)
	switch r.Method {
	case "GET":
		return c.serveStream(r, cors)
	case "POST":
		return c.servePost(r, cors)
	case "OPTIONS":
		return &eventloop.Response{Status: 204, Header: append(cors,
			eventloop.HeaderField{Name: "Access-Control-Allow-Methods", Value: "GET, POST"},
			eventloop.HeaderField{Name: "Access-Control-Allow-Headers", Value: "Content-Type, Last-Event-ID"},
			eventloop.HeaderField{Name: "Access-Control-Max-Age", Value: "600"})}
	}
	resp := errAnswer(405, codeMethod, "Use GET (the stream) or POST (requests)").response(cors)
	resp.Header = append(resp.Header, eventloop.HeaderField{Name: "Allow", Value: "GET, POST, OPTIONS"})
	return resp
}

// corsHeader lets a page of an allowed foreign origin read the answers (the
// origin policy already passed): the origin echoed, never "*".
func corsHeader(r *eventloop.Request) []eventloop.HeaderField {
	o := r.Get("Origin")
	if o == "" {
		return nil
	}
	return []eventloop.HeaderField{{Name: "Access-Control-Allow-Origin", Value: o}, {Name: "Vary", Value: "Origin"}}
}

// Closed forgets the session of a stream that closed (the server's
// Handler.Close, on the connection's loop, before the session disconnects).
func (c *Carrier) Closed(conn *eventloop.Conn) {
	if s := c.reg.remove(conn); s != nil {
		s.closed = true
	}
}

// Sessions counts the stream sessions of this node.
func (c *Carrier) Sessions() int { return c.reg.len() }
