package eventloop

import "github.com/gobwas/ws"

// Pings from the peer cost the server a pong each, so a peer that pings fast
// and never reads could make the node queue pongs without end (issue 15:
// 5.6M pings in a second took a node from 40 MB to 940 MB). Three things
// bound it, none of which costs an idle connection a byte:
//   - pongs count against MaxOutboundBytes like every other frame (enqueue);
//   - a run of pings read in one turn gets one pong, for its last ping
//     (RFC 6455 §5.5.3), staged in the loop's control arena, not the Conn;
//   - a connection may send PingBurst pings at once and PingRate per second
//     over time, then it is closed with 1008. The bucket's clock is the
//     loop's sweep, so the Conn keeps only a one-byte count of pings used.

// ctrlArenaMax is the arena capacity kept between turns; a turn that needed
// more (many connections' pongs at once) lets the GC have it back.
const ctrlArenaMax = 16 << 10

// stagePong builds in the loop's control arena the pong answering payload,
// replacing the one staged at prev (≥ 0) for an earlier ping of the same run:
// that ping goes unanswered, which RFC 6455 §5.5.3 allows. It returns where
// the pong starts; sendPong queues it once the run ends. Nothing else is
// appended to the arena while a pong is staged.
func (l *loop) stagePong(prev int, payload []byte) int {
	if prev >= 0 {
		l.ctrl = l.ctrl[:prev] // never queued: safe to overwrite
	}
	at := len(l.ctrl)
	l.ctrl = AppendFrame(l.ctrl, ws.OpPong, payload)
	return at
}

// sendPong queues the pong staged at at. Queued arena bytes stay valid until
// the end of the turn: later appends only write past them, and an append
// that moves the arena leaves the old array to the frames that point at it.
func (c *Conn) sendPong(at int) {
	l := c.loop
	if c.state == stateOpen {
		c.enqueue(l.ctrl[at:len(l.ctrl):len(l.ctrl)])
	}
}

// resetArena empties the control arena at the end of a turn, once its
// frames are written (gnet copies whatever the socket did not take).
func (l *loop) resetArena() {
	if cap(l.ctrl) > ctrlArenaMax {
		l.ctrl = nil
		return
	}
	l.ctrl = l.ctrl[:0]
}

// takePing counts one ping against the connection's budget; false when the
// budget is spent.
func (c *Conn) takePing() bool {
	cfg := &c.loop.eng.cfg
	if cfg.PingRate < 0 {
		return true
	}
	if int(c.pings) >= cfg.PingBurst {
		return false
	}
	c.pings++
	return true
}

// pingAbuse closes a connection that spent its ping budget. It is dropped at
// the end of the turn, like a slow consumer: a flooder is not going to
// answer our close frame, and the rest of its input is discarded unread.
func (c *Conn) pingAbuse() {
	c.loop.stats.pingAbuse.Add(1)
	c.loop.eng.cfg.Logger.Debug("ping flood closed", "remote", c.RemoteAddr())
	c.Close(ClosePolicy, "too many pings")
	c.abort()
}

// pingRefill returns how many pings every connection of the loop gets back
// since the last call. One clock per loop, advanced by whole pings so that
// fractions carry over to the next sweep, stands in for a clock per
// connection.
func (l *loop) pingRefill(now int64) int {
	rate := l.eng.cfg.PingRate
	if rate <= 0 {
		return 0
	}
	n := int64(float64(now-l.pingClock) * rate / 1e9)
	switch {
	case n <= 0:
		return 0
	case n >= maxPingBurst:
		l.pingClock = now
		return maxPingBurst
	}
	l.pingClock += int64(float64(n) * 1e9 / rate)
	return int(n)
}

// refillPings gives n pings back to the connection's budget.
func (c *Conn) refillPings(n int) {
	if c.pings != 0 {
		c.pings -= uint8(min(int(c.pings), n))
	}
}
