package eventloop

import (
	"context"
	"errors"
	"net"
	"os"

	"github.com/panjf2000/gnet/v2"
)

// Resuming an event stream. A stream's TCP connection can go away while its
// client lives on (a proxy's timeout, a network change, a phone asleep);
// the client reconnects and asks for the events after the last id it got
// (SSE's Last-Event-ID). For that:
//
//   - A stream keeps its newest events in a ring: at most streamRingEvents,
//     streamRingBytes, none older than StreamResume, and every loop's rings
//     together at most its share of StreamReplayBytes. The ring holds
//     references to the event bytes, which a fan-out shares among members,
//     so the bytes counted are an upper bound of the memory. Past a bound
//     the oldest events go first; an event that cannot be retained empties
//     the ring, so that the ring always holds the ids just below the next
//     one, without a hole.
//   - When its TCP connection goes away, a stream is detached rather than
//     closed: it stays open (its session goes on, in its rooms), what is
//     written to it is only retained, and it ends after StreamResume, or
//     at once when an event written since it was detached leaves the ring
//     (or cannot enter it): no resume could succeed without a hole.
//   - Request.Resume hands a new request's connection to the stream: if
//     every event after the client's last id is retained, the connection
//     gets a 200 head and those events, then the live ones; an attached
//     stream's old connection is dropped. The new connection usually lands
//     on another event loop than the stream, whose loop owns it (its room
//     memberships, its session): the socket then moves to the stream's
//     loop (a duplicate of its descriptor is enrolled there, gnet's
//     EventLoop.Enroll, and the original closed), so that the stream's
//     writes stay on its loop and a resumed stream costs what any other
//     does.

// Ring bounds per stream.
const (
	streamRingEvents = 64       // events retained per stream at most
	streamRingBytes  = 64 << 10 // bytes retained per stream at most
	ringEntryCost    = 24       // a retained event's slice header, counted with its bytes
)

// eventRing is a circular buffer of events, grown as needed up to
// streamRingEvents (an idle stream holds none).
type eventRing struct {
	buf   [][]byte
	head  int // index of the oldest
	n     int // events held
	bytes int // their bytes, each plus ringEntryCost
}

// Its length is a power of two (4 to streamRingEvents), so that indexes wrap
// with a mask.
func (r *eventRing) push(ev []byte) {
	if r.n == len(r.buf) {
		grown := make([][]byte, max(4, 2*len(r.buf)))
		for i := 0; i < r.n; i++ {
			grown[i] = r.at(i)
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = ev
	r.n++
	r.bytes += len(ev) + ringEntryCost
}

// pop drops the oldest event and returns its cost.
func (r *eventRing) pop() int {
	ev := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	cost := len(ev) + ringEntryCost
	r.bytes -= cost
	return cost
}

// at returns the i-th oldest event.
func (r *eventRing) at(i int) []byte { return r.buf[(r.head+i)&(len(r.buf)-1)] }

// retain keeps ev, just written to st with id st.next-1, in st's ring,
// dropping the oldest events past the bounds. It reports false when ev
// cannot be kept; the ring is empty then.
func (l *loop) retain(st *stream, ev []byte) bool {
	r := &st.ring
	cost := int64(len(ev) + ringEntryCost)
	share := l.eng.replayShare
	if l.eng.cfg.StreamResume <= 0 || cost > streamRingBytes || cost > share {
		l.dropRing(st)
		return false
	}
	for r.n > 0 && (r.n >= streamRingEvents || int64(r.bytes)+cost > streamRingBytes || l.retained+cost > share) {
		l.retained -= int64(r.pop())
	}
	if l.retained+cost > share {
		return false // other streams of the loop hold its share
	}
	r.push(ev)
	l.retained += cost
	return true
}

// dropRing lets go of every event st retains.
func (l *loop) dropRing(st *stream) {
	l.retained -= int64(st.ring.bytes)
	st.ring = eventRing{}
}

// detach keeps a stream whose TCP connection went away (gnet's OnClose) for
// a resume. It reports false when it cannot be kept: resume is off, or the
// stream was already ending.
func (e *Engine) detach(c *Conn) bool {
	if e.cfg.StreamResume <= 0 || c.aborting || c.state != stateOpen {
		return false
	}
	l := c.loop
	c.gc = nil
	c.pBytes = 0 // frames queued this turn are dropped (flush skips a detached stream); the ring has them
	c.st.since = e.now()
	c.st.lacks = c.st.next
	l.stats.detached.Add(1)
	return true
}

// ResumeFailure says why a stream could not be resumed.
type ResumeFailure uint8

const (
	// ResumeGone: the stream is closed (or closing, or the node drains).
	ResumeGone ResumeFailure = iota
	// ResumeLost: events after the client's last id are no longer
	// retained, or the id is one the stream never wrote. The stream is
	// closed: its client cannot resume it without a hole.
	ResumeLost
)

// resumeReq is a resume on its way to the stream's loop: the gnet context
// of a connection enrolled there.
type resumeReq struct {
	target *Conn
	lastID uint64
	start  StreamStart
	refuse func(ResumeFailure) *Response
}

// staleCarrier is the gnet context of a stream's former connection once a
// resume replaced it: its traffic and its close are ignored.
type staleCarrier struct{}

// Resume answers r, from Handler.HTTP, by handing its connection to the
// stream target (found by the handler, open or detached, on any loop): if
// every event after lastID (the client's Last-Event-ID; 0: none) is
// retained, the connection gets a 200 head with s, those events, then the
// stream's live events, and the stream's previous connection, if any, is
// dropped. Otherwise refuse (called on target's loop) gives the answer, and
// with ResumeLost the stream is closed. Handler.HTTP then returns nil. An
// error means Resume was misused (outside Handler.HTTP, twice, or target is
// no stream): the handler answers r itself.
func (r *Request) Resume(target *Conn, lastID uint64, s StreamStart, refuse func(ResumeFailure) *Response) error {
	if r.conn == nil || r.conn.state != stateHandshake || r.deferred || r.streamed || r.resume != nil ||
		target == nil || target.st == nil || refuse == nil {
		return errors.New("eventloop: Resume outside Handler.HTTP, twice, or of a connection that is not a stream")
	}
	r.resume = &resumeReq{target: target, lastID: lastID, start: s, refuse: refuse}
	return nil
}

// resume carries out a Request.Resume after Handler.HTTP returned, on c's
// loop.
func (e *Engine) resume(c *Conn, rr *resumeReq) {
	t := rr.target
	if t.loop == c.loop {
		if resp := e.attach(c.gc, rr); resp != nil {
			e.reply(c, resp, false)
			return
		}
		// c's TCP connection carries t now; c itself is forgotten (it is
		// the connection OnTraffic runs for: a closed one is left alone).
		e.donePending(c)
		c.state = stateClosed
		c.loop.removeConn(c)
		return
	}
	fd, err := c.gc.Dup()
	if err != nil {
		e.cfg.Logger.Warn("stream resume: dup", "err", err)
		e.reply(c, errorResponse(503, "resume failed"), false)
		return
	}
	// This side closes its descriptor at the end of the turn, writing
	// nothing; the socket lives on in fd, enrolled on t's loop, where
	// OnOpen attaches it (adopt).
	c.desync = true
	c.abort()
	f := os.NewFile(uintptr(fd), "stream")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		e.cfg.Logger.Warn("stream resume: hand over", "err", err)
		return
	}
	if _, err := t.loop.gl.Enroll(gnet.NewContext(context.Background(), rr), nc); err != nil {
		_ = nc.Close() // the engine stops
	}
}

// adopt is OnOpen for a connection a resume enrolled on its stream's loop:
// it attaches it, or answers it with the refusal.
func (e *Engine) adopt(gc gnet.Conn, rr *resumeReq) ([]byte, gnet.Action) {
	l := rr.target.loop
	resp := e.attach(gc, rr)
	l.endTurn()
	if resp != nil {
		gc.SetContext(nil)
		return encodeResponse(resp, false), gnet.Close
	}
	return nil, gnet.None
}

// attach makes gc the connection of the stream rr.target, on its loop, and
// queues the head, rr.start.First and the retained events after rr.lastID.
// It returns the refusal when the stream cannot be resumed.
func (e *Engine) attach(gc gnet.Conn, rr *resumeReq) *Response {
	t := rr.target
	st, l := t.st, t.loop
	if t.state != stateOpen || e.draining.Load() {
		return rr.refuse(ResumeGone)
	}
	last := st.next - 1
	if rr.lastID > last || rr.lastID+uint64(st.ring.n) < last {
		resp := rr.refuse(ResumeLost)
		l.stats.streamsExpired.Add(1)
		t.closeStream(CloseGoingAway, "events lost")
		return resp
	}
	if old := t.gc; old != nil {
		// Frames queued this turn go to the old connection (they are
		// retained, and replayed below if the client missed them); then
		// it is dropped, its traffic and close ignored.
		old.SetContext(staleCarrier{})
		if t.dirty {
			l.flush()
		}
		l.stale = append(l.stale, old)
	} else {
		l.stats.detached.Add(-1)
	}
	t.gc = gc
	gc.SetContext(t)
	st.since = 0
	l.queue(t, streamHead(rr.start.Header))
	if len(rr.start.First) > 0 {
		l.queue(t, rr.start.First)
	}
	first := st.next - uint64(st.ring.n) // id of the oldest retained event
	for i := int(rr.lastID + 1 - first); i < st.ring.n; i++ {
		l.queue(t, l.idLine(first+uint64(i)))
		l.queue(t, st.ring.at(i))
	}
	now := e.now()
	t.since, t.timer = now, now
	l.stats.resumes.Add(1)
	return nil
}
