package eventloop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Engine is a running WebSocket transport.
type Engine struct {
	gnet.BuiltinEventEngine

	cfg   Config
	loops []*loop // fixed at start; bound to gnet loops as they show up
	base  time.Time
	tick  time.Duration
	stats engineStats

	pending *pendingTable // handshakes in progress per peer address

	replayShare int64 // each loop's share of StreamReplayBytes (stream_resume.go)

	bindMu   sync.Mutex
	geng     gnet.Engine
	addr     string
	booted   chan struct{}
	ticking  chan struct{} // closed at the first OnTick: every loop listens by then
	tickOnce sync.Once
	done     chan error // gnet.Run's result
	draining atomic.Bool
	stopped  atomic.Bool // the loops are gone (or never started)
	stopOnce sync.Once
}

// Start is New followed by Engine.Start.
func Start(cfg Config) (*Engine, error) {
	e, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := e.Start(); err != nil {
		return nil, err
	}
	return e, nil
}

// New checks cfg and prepares an engine without listening yet, so that the
// handler can be wired to it (e.g. a registry needing NumLoops) before the
// first callback can run.
func New(cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, base: time.Now(), tick: cfg.tickInterval(),
		booted: make(chan struct{}), ticking: make(chan struct{}), done: make(chan error, 1),
		pending: newPendingTable(cfg.MaxPendingPerIP, cfg.PendingPressure, cfg.PendingExemptPeers)}
	for i := 0; i < cfg.Loops; i++ {
		e.loops = append(e.loops, newLoop(e, i))
	}
	if cfg.StreamReplayBytes > 0 {
		e.replayShare = int64(cfg.StreamReplayBytes / cfg.Loops)
	}
	return e, nil
}

// Start listens on the configured address and runs the event loops in the
// background. It returns once every loop listens, or with the error that
// prevented it.
func (e *Engine) Start() error {
	cfg := &e.cfg
	addr, release, err := listenAddr(cfg.Addr, cfg.ReusePort)
	if err != nil {
		e.stopped.Store(true)
		return fmt.Errorf("eventloop: listen on %s: %w", cfg.Addr, err)
	}
	opts := []gnet.Option{
		gnet.WithNumEventLoop(cfg.Loops),
		gnet.WithReuseAddr(true), // a restart must not trip over TIME_WAIT sockets
		// One listener per loop, so that OnOpen sees every socket as soon as
		// it is accepted (fdlimit.go); listenAddr keeps the port exclusive
		// unless cfg.ReusePort asks to share it.
		gnet.WithReusePort(true),
		gnet.WithTicker(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{cfg.Logger}),
	}
	if cfg.TCPKeepAlive > 0 {
		opts = append(opts, gnet.WithTCPKeepAlive(cfg.TCPKeepAlive))
	}
	go func() { e.done <- gnet.Run(e, "tcp://"+addr, opts...) }()
	err = e.awaitListening()
	release()
	if err == nil {
		return nil
	}
	e.stopped.Store(true)
	// gnet reports a port in use as "setsockopt: bad file descriptor": ask
	// the kernel the plain way for a message an operator can act on.
	if ln, lerr := net.Listen("tcp", addr); lerr != nil {
		err = lerr
	} else {
		_ = ln.Close()
	}
	return fmt.Errorf("eventloop: listen on %s: %w", cfg.Addr, err)
}

// awaitListening waits until every loop's listener is bound, or gnet fails.
// gnet binds loop 0's listener before OnBoot and the others after it, then
// starts its ticker: the first OnTick is the sign that all of them listen.
func (e *Engine) awaitListening() error {
	select {
	case <-e.ticking:
		return nil
	case err := <-e.done:
		if err == nil {
			err = errors.New("engine stopped during start")
		}
		return err
	}
}

// Addr returns the bound listen address ("127.0.0.1:40123").
func (e *Engine) Addr() string { return e.addr }

// MaxTCPConns returns the effective TCP connection cap (0: none).
func (e *Engine) MaxTCPConns() int { return max(e.cfg.MaxTCPConns, 0) }

// Accepted returns the TCP connections accepted since start (any goroutine;
// Stats without the rest).
func (e *Engine) Accepted() int64 { return e.stats.accepted.Load() }

// NumLoops returns the number of event loops; loop indexes are below it.
func (e *Engine) NumLoops() int { return len(e.loops) }

// now is the engine's monotonic clock in nanoseconds.
func (e *Engine) now() int64 { return int64(time.Since(e.base)) }

// OnBoot records the engine and the address it really bound.
func (e *Engine) OnBoot(eng gnet.Engine) gnet.Action {
	e.geng = eng
	e.addr = e.cfg.Addr
	if fd, err := eng.Dup(); err == nil {
		if sa, err := unix.Getsockname(fd); err == nil {
			e.addr = sockaddrString(sa)
		}
		_ = unix.Close(fd)
	}
	close(e.booted)
	return gnet.None
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	}
	return ""
}

// loopOf returns our loop for a gnet loop, binding a free one on first sight.
func (e *Engine) loopOf(gl gnet.EventLoop) *loop {
	for _, l := range e.loops {
		if l.bound.Load() && l.gl == gl {
			return l
		}
	}
	e.bindMu.Lock()
	defer e.bindMu.Unlock()
	for _, l := range e.loops {
		if !l.bound.Load() {
			l.gl = gl
			l.bound.Store(true)
			return l
		}
		if l.gl == gl {
			return l
		}
	}
	panic("eventloop: more gnet loops than configured")
}

// OnOpen registers a new TCP connection; it becomes a WebSocket in OnTraffic.
func (e *Engine) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	if rr, ok := gc.Context().(*resumeReq); ok {
		return e.adopt(gc, rr) // a stream's new connection, moved to its loop (stream_resume.go)
	}
	l := e.loopOf(gc.EventLoop())
	c := &Conn{gc: gc, loop: l, since: e.now()}
	gc.SetContext(c)
	l.addConn(c)
	e.stats.accepted.Add(1)
	if e.draining.Load() {
		return nil, gnet.Close
	}
	if max := e.cfg.MaxTCPConns; max > 0 && e.tcpConns() > int64(max) {
		e.stats.hsFailure[HandshakeFull].Add(1)
		return nodeFull, gnet.Close
	}
	if !e.admitPending(c) {
		e.stats.hsFailure[HandshakePerIP].Add(1)
		return tooManyPending, gnet.Close
	}
	return nil, gnet.None
}

// nodeFull answers a socket accepted over MaxTCPConns.
var nodeFull = encodeResponse(errorResponse(503, "node full"), false)

// tooManyPending answers a socket from an address at MaxPendingPerIP.
var tooManyPending = encodeResponse(errorResponse(503, "too many connections in handshake from your address"), false)

// tcpConns counts TCP connections over all loops.
func (e *Engine) tcpConns() int64 {
	var n int64
	for _, l := range e.loops {
		n += l.stats.conns.Load()
	}
	return n
}

// OnClose is called by gnet once per connection, whoever closed it.
func (e *Engine) OnClose(gc gnet.Conn, _ error) gnet.Action {
	c, ok := gc.Context().(*Conn)
	if !ok || c.state == stateClosed || c.gc != gc {
		return gnet.None // gone already, or a stream's former connection (stream_resume.go)
	}
	e.donePending(c) // before the state changes: RemoteAddr is still set
	if c.st != nil && e.detach(c) {
		return gnet.None // an event stream waits for its client to resume it
	}
	e.gone(c)
	return gnet.None
}

// gone forgets a connection closed for good and tells the handler: gnet
// closed its TCP connection, or a detached stream ended.
func (e *Engine) gone(c *Conn) {
	l := c.loop
	prev := c.state
	c.ClearDeadline()
	if len(l.bodies) > 0 {
		delete(l.bodies, c)
	}
	if prev == stateOpen {
		c.countClosed()
		c.closeCode = CloseNoStatus
	}
	c.state = stateClosed
	c.dec = decoder{}
	l.removeConn(c)
	if c.st != nil {
		l.dropRing(c.st)
	}
	if prev != stateHandshake {
		e.cfg.Handler.Close(c, c.closeCode)
	}
}

// OnTraffic handles whatever the peer sent: the request head while
// handshaking, then frames. It consumes every complete unit in the buffer.
func (e *Engine) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*Conn)
	if !ok || c.gc != gc {
		_, _ = gc.Discard(-1) // a stream's former connection, dropped at the end of the turn
		return gnet.None
	}
	l := c.loop
	l.current, l.closeMe = c, false
	if c.state == stateHandshake {
		e.handshake(c)
	}
	switch {
	case c.st != nil && c.state != stateHandshake:
		// An event stream reads nothing: its client speaks through
		// other requests.
		if c.state != stateClosed {
			_, _ = gc.Discard(-1)
		}
	case c.state == stateOpen || c.state == stateClosing:
		e.readFrames(c)
	}
	l.endTurn()
	l.current = nil
	if l.closeMe {
		return gnet.Close
	}
	return gnet.None
}

// readFrames decodes and dispatches every complete frame in c's buffer.
func (e *Engine) readFrames(c *Conn) {
	gc, l := c.gc, c.loop
	// Count only bytes that arrived since the last turn: an incomplete
	// frame stays in the buffer and must not be counted again.
	l.stats.bytesIn.Add(int64(gc.InboundBuffered()) - int64(c.seen))
	if c.state == stateOpen {
		c.since = e.now()
	}
	// pong is where, in the loop's control arena, the pong for the latest
	// ping of the current run of pings waits (-1: none). The run gets that
	// one pong (see pings.go), queued when the run ends, before whatever
	// follows is handled, so replies keep the order of what they answer.
	pong := -1
	for {
		if c.desync || c.aborting {
			_, _ = gc.Discard(-1) // a staged pong goes with the connection
			c.seen = 0
			return
		}
		ev := c.dec.next(gc, e.cfg.MaxMessageBytes, e.cfg.MaxContinuationFrames)
		if pong >= 0 && ev.kind != evPing {
			c.sendPong(pong)
			pong = -1
		}
		switch ev.kind {
		case evNeedMore:
			c.seen = int32(gc.InboundBuffered())
			return
		case evMessage:
			if c.state == stateOpen {
				l.stats.messagesIn.Add(1)
				e.cfg.Handler.Message(c, ev.payload, ev.binary)
			}
		case evPing:
			if c.state == stateOpen {
				if c.takePing() {
					pong = l.stagePong(pong, ev.payload)
				} else {
					c.pingAbuse()
				}
			}
		case evClose:
			if c.state == stateOpen {
				// Echo the peer's code (RFC 6455 §5.5.1), then drop TCP.
				// Like Close's frame, this last frame may pass the
				// outbound limit by its few bytes.
				reply := []byte{0x88, 0}
				if ev.code != CloseNoStatus {
					reply = closeFrame(ev.code, "")
				}
				l.queue(c, reply)
				c.state = stateClosing
				c.closeCode = ev.code
				l.stats.websockets.Add(-1)
			}
			c.abort()
		case evError:
			if c.state == stateOpen {
				c.fail(ev.code, ev.reason)
			} else {
				c.abort()
			}
			continue
		}
		_, _ = gc.Discard(ev.n)
	}
}

// OnTick drives the timer sweeps: one task per loop per tick.
func (e *Engine) OnTick() (time.Duration, gnet.Action) {
	e.tickOnce.Do(func() { close(e.ticking) })
	for _, l := range e.loops {
		if l.bound.Load() {
			_ = l.gl.Execute(context.Background(), l.sweepFn)
		}
	}
	return e.tick, gnet.None
}

// sweep enforces the handshake deadline and the connections' own deadlines
// (deadline.go), pings quiet connections, closes idle ones and drops those
// whose closing handshake stalled. One pass over the loop's connections per
// tick is a few nanoseconds each: cheaper and simpler than a timer per
// connection, and exact to one tick.
func (l *loop) sweep() {
	e := l.eng
	now := e.now()
	l.clock = now
	cfg := &e.cfg
	pings := l.pingRefill(now)
	if len(l.deadlines) > 0 {
		l.expireDeadlines(now)
	}
	for _, c := range l.conns {
		switch c.state {
		case stateHandshake:
			if now-c.since >= int64(cfg.HandshakeTimeout) {
				e.stats.hsFailure[HandshakeTimeout].Add(1)
				c.abort()
			}
		case stateOpen:
			if c.st != nil {
				c.sweepStream(now)
				break
			}
			c.refillPings(pings)
			quiet := now - c.since
			switch {
			case quiet >= int64(cfg.IdleTimeout):
				l.stats.idleCloses.Add(1)
				c.Close(CloseGoingAway, "idle timeout")
			case quiet >= int64(cfg.PingInterval) && now-c.timer >= int64(cfg.PingInterval):
				c.timer = now
				c.enqueue(pingFrame)
			}
		case stateClosing:
			if now-c.timer >= int64(cfg.CloseTimeout) {
				c.abort()
			}
		}
	}
	l.checkBudget()
	l.endTurn()
	l.shrinkIdle(now)
	l.sweepIDs(now)
	l.stats.replayBytes.Store(l.retained)
}
