package eventloop

import (
	"encoding/json"
	"errors"
	"strconv"
)

// Event streams: a plain HTTP GET answered with a response that never ends,
// carrying Server-Sent Events (text/event-stream), for clients whose network
// breaks WebSockets. The handler opens one with Request.Stream from
// Handler.HTTP; the connection is then open like a WebSocket and bounded the
// same way, on the same loop: Write queues one event (Conn.Write), counted
// against MaxOutboundBytes and the node's outbound budget (4008 past them),
// closed with Close (a last "close" event carrying the code and reason, then
// TCP is dropped: there is no closing handshake), deadlines and fan-outs work
// unchanged. What differs:
//
//   - Events are numbered. Each write gets the stream's next id (1, 2, 3,
//     ...), written in front of it as the SSE field "id: N", per connection
//     while the event's bytes are shared: the carrier frames an event once
//     per node ("data: ...\n\n") and the loop adds the id line from a
//     per-turn arena, as it does pongs, so a fan-out allocates nothing per
//     member.
//   - Nothing is read: the client speaks through other requests (the
//     handler's business), and whatever it sends on the stream's connection
//     is discarded. So the idle timeout counts the handler's Conn.Touch, not
//     inbound bytes, and the keepalive is a comment (": ping") written when
//     nothing was written for PingInterval, which keeps proxies from timing
//     the response out.
//   - A stream outlives its TCP connection for Config.StreamResume: it is
//     detached, keeps its session and retains what is written to it, and a
//     new request can take it over with Request.Resume, replaying every
//     event after the client's last id (stream_resume.go).
//
// Stream state lives in a stream struct that only streams allocate; Conn
// holds a pointer to it (Conn is 112 bytes, exactly the allocator's size
// class it was already rounded up to: WebSockets pay nothing).

// Stream errors, from Request.Stream.
var (
	ErrNodeFull = errors.New("eventloop: node full")
	ErrDraining = errors.New("eventloop: server shutting down")
)

// stream is the state of an event stream (loop only).
type stream struct {
	ring  eventRing // the newest events written, for a resume (stream_resume.go)
	next  uint64    // the id of the next event; ids start at 1
	last  int64     // loop clock of the newest event (ring trim, keepalive)
	since int64     // engine time when the TCP connection went away; 0 while attached
	// lacks is, while detached, the first id the client cannot have had:
	// the next id when the connection went away. An event from there on
	// that the ring lets go of ends the stream: no resume could succeed.
	lacks uint64
}

// StreamStart is how a stream's response begins.
type StreamStart struct {
	// Header holds extra header fields of the 200 response (such as CORS
	// fields); Content-Type, Cache-Control, X-Accel-Buffering and
	// Connection are the transport's.
	Header []HeaderField
	// First is written right after the head, unnumbered: an event that
	// names the stream to its client, say. Empty: nothing.
	First []byte
}

// Stream answers r, from Handler.HTTP on its loop, with an event stream and
// returns its connection, open: the handler sets its value, writes events
// with Write and ends it with Close; Handler.Close follows as for a
// WebSocket (Handler.Open does not: the handler is already there).
// Handler.HTTP then returns nil. A stream counts as an open connection for
// MaxConns: past it, and while the node drains, Stream refuses with
// ErrNodeFull or ErrDraining (the handler answers r itself).
func (r *Request) Stream(s StreamStart) (*Conn, error) {
	c := r.conn
	if c == nil || c.state != stateHandshake || r.deferred || r.streamed || r.resume != nil {
		return nil, errors.New("eventloop: Stream outside Handler.HTTP, or twice")
	}
	e := c.loop.eng
	if e.draining.Load() {
		return nil, ErrDraining
	}
	if max := e.cfg.MaxConns; max > 0 && e.openWebSockets() >= int64(max) {
		return nil, ErrNodeFull
	}
	r.streamed = true
	c.st = &stream{next: 1}
	l := c.loop
	l.queue(c, streamHead(s.Header))
	if len(s.First) > 0 {
		l.queue(c, s.First)
	}
	c.state = stateOpen
	e.donePending(c)
	c.since = e.now()
	c.timer = c.since
	c.st.last = l.clock
	l.stats.streams.Add(1)
	l.stats.streamsOpened.Add(1)
	return c, nil
}

// streamHead is the head of a stream's response. The body is delimited by
// the end of the connection (no length, not chunked: RFC 9112 §6.3), which
// HTTP/1.1 clients and proxies read as it arrives.
func streamHead(extra []HeaderField) []byte {
	b := make([]byte, 0, 160)
	b = append(b, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"+
		"X-Accel-Buffering: no\r\nConnection: close\r\n"...)
	for _, f := range extra {
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// Stream reports whether c is an event stream (Request.Stream). Any
// goroutine: it never changes once the connection is open.
func (c *Conn) Stream() bool { return c.st != nil }

// Touch records client activity on a stream (Config.IdleTimeout counts from
// the last one): the client speaks through other requests, which the
// handler sees. Loop only; a no-op on a WebSocket.
func (c *Conn) Touch() {
	if c.st != nil {
		c.since = c.loop.eng.now()
	}
}

// writeEvent queues one event of a stream, numbered. ev is a complete SSE
// event without an id field (its data lines and the blank line that ends
// it); the loop writes "id: N\n" in front of it. A detached stream only
// retains it, for its resume.
func (c *Conn) writeEvent(ev []byte) error {
	st, l := c.st, c.loop
	if c.gc == nil {
		st.next++
		if !l.retain(st, ev) || st.next-uint64(st.ring.n) > st.lacks {
			// The client can no longer resume without a hole: the stream
			// ends now rather than at the end of its resume window.
			l.stats.streamsExpired.Add(1)
			c.closeStream(CloseGoingAway, "events lost")
			return ErrClosed
		}
		return nil
	}
	id := l.idLine(st.next)
	if c.gc.OutboundBuffered()+int(c.pBytes)+len(id)+len(ev) > l.eng.cfg.MaxOutboundBytes {
		c.slowConsumer()
		return ErrClosed
	}
	l.queue(c, id)
	l.queue(c, ev)
	st.next++
	st.last = l.clock
	l.retain(st, ev)
	return nil
}

// idLine returns "id: N\n" built in the loop's id arena, valid until the end
// of the turn (like the control arena's pongs: later appends only write past
// it, and an append that moves the arena leaves the old array to the frames
// that point at it).
func (l *loop) idLine(id uint64) []byte {
	const most = len("id: 18446744073709551615\n")
	at := len(l.ids)
	if cap(l.ids)-at < most {
		l.ids = append(l.ids, make([]byte, most)...)[:at] // a per-member call, so grown by hand, in place
	}
	b := l.ids[at : at+most]
	var digits [20]byte
	i := len(digits)
	for {
		i--
		digits[i] = byte('0' + id%10)
		if id /= 10; id == 0 {
			break
		}
	}
	b[0], b[1], b[2], b[3] = 'i', 'd', ':', ' '
	n := 4 + copy(b[4:], digits[i:])
	b[n] = '\n'
	l.ids = l.ids[:at+n+1]
	return l.ids[at : at+n+1 : at+n+1]
}

// resetIDs empties the id arena at the end of a turn, once its lines are
// written (gnet copies what the socket did not take). It keeps its array:
// a big room's fan-out needs one line per member every turn (10,000
// members: ~100 KiB); sweepIDs lets a big one go once turns stop using it.
func (l *loop) resetIDs() {
	if len(l.ids) > ctrlArenaMax {
		l.idsBusy = l.clock
	}
	l.ids = l.ids[:0]
}

// sweepIDs releases a big id arena that no turn has filled past
// ctrlArenaMax for shrinkAfter (at the timer sweep), as shrinkIdle does the
// turn queues.
func (l *loop) sweepIDs(now int64) {
	if cap(l.ids) > ctrlArenaMax && now-l.idsBusy > int64(shrinkAfter) {
		l.ids = nil
	}
}

// closeStream ends a stream: an attached one gets a last event naming code
// and reason, then TCP is dropped at the end of the turn (nothing to wait
// for: the client sends nothing on it); a detached one is simply gone.
// Either way Handler.Close follows, at the end of the turn.
func (c *Conn) closeStream(code CloseCode, reason string) {
	l := c.loop
	c.state = stateClosing
	c.closeCode = code
	l.stats.streams.Add(-1)
	if c.gc != nil {
		l.queue(c, streamCloseEvent(code, reason))
	} else {
		l.stats.detached.Add(-1)
	}
	c.abort()
}

// streamCloseEvent is a stream's last event: event type "close", data
// {"code":N,"reason":"..."}, unnumbered.
func streamCloseEvent(code CloseCode, reason string) []byte {
	r, _ := json.Marshal(reason)
	b := make([]byte, 0, 48+len(r))
	b = append(b, "event: close\ndata: {\"code\":"...)
	b = strconv.AppendUint(b, uint64(code), 10)
	b = append(b, ",\"reason\":"...)
	b = append(b, r...)
	return append(b, "}\n\n"...)
}

// keepalive is the comment a quiet stream gets every PingInterval: SSE
// clients ignore it; proxies see the response is alive.
var keepalive = []byte(": ping\n\n")

// sweepStream runs a stream's timers at the loop's sweep: a detached stream
// not resumed within StreamResume ends; an attached one ends when its client
// was silent (no Touch) for IdleTimeout, gets a keepalive when nothing was
// written to it for PingInterval, and lets go of its retained events once
// it wrote none for StreamResume.
func (c *Conn) sweepStream(now int64) {
	st, l, cfg := c.st, c.loop, &c.loop.eng.cfg
	if c.gc == nil {
		if now-st.since >= int64(cfg.StreamResume) {
			l.stats.streamsExpired.Add(1)
			c.closeStream(CloseGoingAway, "not resumed")
		}
		return
	}
	if now-c.since >= int64(cfg.IdleTimeout) {
		l.stats.idleCloses.Add(1)
		c.closeStream(CloseGoingAway, "idle timeout")
		return
	}
	if st.ring.n > 0 && now-st.last >= int64(max(cfg.StreamResume, 0)) {
		l.dropRing(st)
	}
	if now-max(st.last, c.timer) >= int64(cfg.PingInterval) {
		c.timer = now
		c.enqueue(keepalive)
	}
}

// countClosed takes an open connection out of the open counts.
func (c *Conn) countClosed() {
	if c.st == nil {
		c.loop.stats.websockets.Add(-1)
		return
	}
	c.loop.stats.streams.Add(-1)
	if c.gc == nil {
		c.loop.stats.detached.Add(-1)
	}
}
