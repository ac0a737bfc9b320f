package eventloop

import (
	"errors"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
)

// connState is where a connection is in its life.
type connState uint8

const (
	stateHandshake connState = iota // waiting for the upgrade request
	stateOpen                       // a WebSocket
	stateClosing                    // our close frame is sent; waiting for the peer's
	stateClosed                     // gone; every method is a no-op
)

// ErrClosed is returned when writing to a connection that is closing or gone.
var ErrClosed = errors.New("eventloop: connection closed")

// Conn is one client connection. Its fields are owned by its event loop; the
// methods say which are safe from other goroutines. It holds no buffers while
// idle: partial frames wait in gnet's inbound buffer, and the outbound queue
// lives in the loop until the end of the current turn.
type Conn struct {
	gc    gnet.Conn
	loop  *loop
	value any

	dec    decoder
	since  int64 // handshake: accept time; open: last inbound traffic (engine clock, ns)
	timer  int64 // open: last ping sent; closing: when our close frame left
	seen   int32 // bytes at the head of the inbound buffer already counted in BytesIn (handshake: and searched for the head's end)
	slot   int32 // index in loop.conns
	pHead  int32 // first pending frame in loop.pend, when dirty
	pTail  int32 // last pending frame in loop.pend, when dirty
	pBytes int32 // bytes pending in loop.pend

	state     connState
	dirty     bool      // on loop.dirty: has pending frames
	desync    bool      // stream no longer parsable (after a protocol error): discard input
	aborting  bool      // on loop.aborts: TCP closes at the end of the turn
	closeCode CloseCode // code sent or received, reported to Handler.Close
	// The fields below fill what was padding: Conn stays 104 bytes.
	pending  bool  // counted in the engine's pending-handshake table (pending.go)
	pings    uint8 // pings taken from the budget, given back by the sweep (pings.go)
	deadline bool  // has an entry in loop.deadlines (deadline.go)
	// st is an event stream's state (stream.go); nil for a WebSocket. With
	// it Conn is 112 bytes, the allocator's size class it already took.
	st *stream
}

// Loop returns the index of the connection's event loop, in [0, NumLoops).
func (c *Conn) Loop() int { return c.loop.idx }

// Value returns what SetValue stored. Loop only.
func (c *Conn) Value() any { return c.value }

// SetValue stores the handler's per-connection state. Loop only.
func (c *Conn) SetValue(v any) { c.value = v }

// Open reports whether the connection is an open WebSocket (not closing).
// Loop only.
func (c *Conn) Open() bool { return c.state == stateOpen }

// RemoteAddr returns the peer's address, or "" once closed (or while a
// stream is detached). Loop only.
func (c *Conn) RemoteAddr() string {
	if c.state == stateClosed || c.gc == nil {
		return ""
	}
	if a := c.gc.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// Write queues one complete frame (see AppendFrame). Loop only. The frame
// leaves at the end of the current callback or task, coalesced with other
// frames for the same connection; frame must not be modified afterwards.
// Past the outbound limit the connection is closed with 4008. On an event
// stream frame is one event, numbered as it is written (stream.go).
func (c *Conn) Write(frame []byte) error {
	if c.st != nil && c.state == stateOpen {
		return c.writeEvent(frame)
	}
	if c.state != stateOpen || !c.enqueue(frame) {
		return ErrClosed
	}
	return nil
}

// enqueue queues frame if the connection's outbound bytes (gnet's buffer
// plus this turn's pending frames) stay within MaxOutboundBytes, and
// otherwise closes it as a slow consumer. Every frame of an open connection
// goes through here, pongs and pings included: a peer that pings and never
// reads must not turn the node's memory into its queue (issue 15).
func (c *Conn) enqueue(frame []byte) bool {
	if c.gc.OutboundBuffered()+int(c.pBytes)+len(frame) > c.loop.eng.cfg.MaxOutboundBytes {
		c.slowConsumer()
		return false
	}
	c.loop.queue(c, frame)
	return true
}

// Send queues frame for c from any goroutine; it is written on c's loop, in
// order with other Sends and fan-outs.
func (c *Conn) Send(frame []byte) {
	c.loop.post(task{conn: c, frame: frame})
}

// Exec runs fn on c's event loop, from any goroutine, in order with Sends and
// fan-outs. fn may use every loop-only method of connections on that loop.
func (c *Conn) Exec(fn func()) {
	c.loop.post(task{fn: fn})
}

// Close starts the closing handshake: it sends a close frame with code and
// reason and drops TCP when the peer answers or after CloseTimeout. Loop only.
// The close frame is queued even past MaxOutboundBytes: it is the last frame
// the connection gets (nothing is queued once it is closing), so the queue
// ends at most one control frame (127 bytes) over the limit, and a peer that
// reads again learns why it was dropped. An event stream gets a last
// "close" event instead and is dropped at once (stream.go).
func (c *Conn) Close(code CloseCode, reason string) {
	if c.state != stateOpen {
		return
	}
	if c.st != nil {
		c.closeStream(code, reason)
		return
	}
	c.loop.queue(c, closeFrame(code, reason))
	c.state = stateClosing
	c.closeCode = code
	c.timer = c.loop.eng.now()
	c.loop.stats.websockets.Add(-1)
}

// fail closes the connection after a protocol violation (RFC 6455 §7.1.7):
// the close frame is sent and TCP is closed right after it is flushed, at
// the end of the turn. Waiting for the peer's close frame would be waiting
// for nothing: the input can no longer be parsed, so it is discarded.
func (c *Conn) fail(code CloseCode, reason string) {
	c.loop.stats.protocolErrs.Add(1)
	c.Close(code, reason)
	c.desync = true
	c.abort()
}

// slowConsumer closes a connection whose outbound queue is over its limit.
// The peer is not reading, so there is no point waiting for its close frame.
func (c *Conn) slowConsumer() {
	c.loop.stats.slowConsumers.Add(1)
	if c.st != nil {
		c.loop.stats.streamSlow.Add(1)
	}
	c.loop.eng.cfg.Logger.Debug("slow consumer closed", "remote", c.RemoteAddr(),
		"queued", c.gc.OutboundBuffered()+int(c.pBytes))
	c.Close(CloseSlowConsumer, "slow consumer")
	c.abort()
}

// abort drops TCP at the end of the current turn (never in the middle of an
// iteration over connections, which closing could reorder).
func (c *Conn) abort() {
	if c.state == stateClosed || c.aborting {
		return
	}
	c.aborting = true
	c.loop.aborts = append(c.loop.aborts, c)
}

// pingFrame is the server's ping: empty, shared by every connection (frames
// are never modified once queued).
var pingFrame = []byte{0x80 | byte(ws.OpPing), 0}
