package eventloop

import "time"

// Deadlines that nothing extends (Conn.SetDeadline): the server's way to
// require something of a session within a time, such as a v2 hello (issue
// 24: with -auth required, an upgrade that never sent hello held its slot
// forever, its pongs counting as traffic). The idle timeout cannot do that:
// every inbound frame resets it, control frames included.
//
// Deadlines live in a map per loop, not in Conn: Conn stays 104 bytes, and
// only the connections with a deadline set (those still establishing a
// session) pay for one, about 60 bytes while it is set. Conn keeps a flag,
// in what was padding, so that closing a connection without a deadline
// costs no map lookup. The timer sweep checks the map once per tick: a
// deadline fires within one tick after it is due (the tick is at most
// DefaultTickInterval, 1 s, and a quarter of the shortest configured
// timeout).

// deadline is a connection's pending deadline.
type deadline struct {
	at     int64 // engine clock, ns
	code   CloseCode
	reason string
}

// maxKeptDeadlines: a loop's deadline map that held more entries than this
// (a connect storm) is released once it is empty, since Go maps never
// shrink.
const maxKeptDeadlines = 1024

// SetDeadline closes the connection with code and reason (as Close does)
// once d has passed, unless ClearDeadline is called first. Nothing extends
// it: not messages, not pings, not pongs. A later call replaces the
// deadline. Such closes are counted in Stats.DeadlineCloses. Loop only; a
// no-op on a connection that is not open.
func (c *Conn) SetDeadline(d time.Duration, code CloseCode, reason string) {
	if c.state != stateOpen {
		return
	}
	l := c.loop
	if l.deadlines == nil {
		l.deadlines = make(map[*Conn]deadline)
	}
	if !c.deadline {
		c.deadline = true
		l.stats.deadlines.Add(1)
	}
	l.deadlines[c] = deadline{at: l.eng.now() + int64(d), code: code, reason: reason}
	l.deadlinePeak = max(l.deadlinePeak, len(l.deadlines))
}

// ClearDeadline cancels the connection's deadline, if it has one. Loop only.
func (c *Conn) ClearDeadline() {
	if !c.deadline {
		return
	}
	c.deadline = false
	delete(c.loop.deadlines, c)
	c.loop.stats.deadlines.Add(-1)
}

// expireDeadlines closes the connections whose deadline has passed; the
// timer sweep runs it. A connection already closing is only forgotten.
func (l *loop) expireDeadlines(now int64) {
	for c, d := range l.deadlines {
		if now < d.at {
			continue
		}
		c.ClearDeadline()
		if c.state == stateOpen {
			l.stats.deadlineCloses.Add(1)
			l.eng.cfg.Logger.Debug("deadline passed", "remote", c.RemoteAddr(), "code", d.code, "reason", d.reason)
			c.Close(d.code, d.reason)
		}
	}
	if len(l.deadlines) == 0 && l.deadlinePeak > maxKeptDeadlines {
		l.deadlines, l.deadlinePeak = nil, 0
	}
}
