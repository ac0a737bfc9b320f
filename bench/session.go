package bench

import (
	"strconv"
)

// The chat protocol as a benchmark client plays it, on the loop goroutine: join on "connected",
// count notices, send on schedule, and account for every chat message received.

// dialMember starts member c (posted by the runner, which already took a dial slot for it).
func (l *loop) dialMember(c *conn) {
	c.dialNs = wallNow()
	l.members = append(l.members, c)
	l.st.Dialed++
	if err := l.dial(c); err != nil {
		l.drop(c, err.Error())
	}
}

// dialChurner starts one churn cycle: connect, join, leave, close.
func (l *loop) dialChurner(c *conn) {
	if l.stopping {
		<-l.sh.dialSem
		l.sh.churners.Done()
		return
	}
	c.dialNs = wallNow()
	l.st.ChurnDialed++
	if err := l.dial(c); err != nil {
		l.drop(c, err.Error())
	}
}

// upgraded: the handshake is done; the dial slot goes to the next connection and the join
// deadline starts.
func (l *loop) upgraded(c *conn) {
	c.accept = nil
	c.state = stOpen
	if c.holdsToken {
		c.holdsToken = false
		<-l.sh.dialSem
	}
	if !c.churner {
		l.st.Connected++
	}
	c.deadline = wallNow() + int64(l.sh.cfg.ConnectTimeout)
}

// drop ends a connection that failed or was closed by the server, and settles its accounting.
func (l *loop) drop(c *conn, reason string) {
	was := c.state
	l.closeFd(c)
	if c.churner {
		if was == stClosing {
			l.closed(c) // the cycle had joined and left; only the close handshake was cut short
			return
		}
		l.st.ChurnFailed++
		l.noteErr("churn: " + reason)
		return
	}
	if was == stClosing {
		return // our own close at the end of the run
	}
	if !c.joined {
		if !c.failed {
			c.failed = true
			if was <= stUpgrading {
				l.st.ConnectFailed++
			} else {
				l.st.JoinFailed++
			}
			l.noteErr(reason)
			l.sh.joinCD.dec()
		}
		return
	}
	c.dead = true
	if l.frozen && l.sh.cfg.Hold > 0 {
		// The accounting is over; the run holds its connections only so that the servers can
		// be watched (or one drained) under the full load. Losing one now fails nothing.
		l.st.HoldDisconnects++
		return
	}
	l.st.Disconnects++
	l.noteErr(reason)
	l.retire(c)
}

// retire releases a joined member from the phases still waiting for it: a dead member will
// neither settle, nor send, nor receive.
func (l *loop) retire(c *conn) {
	if l.settleArmed && !c.settled {
		c.settled = true
		l.sh.settleCD.dec()
	}
	if l.startArmed {
		if !c.sendDone {
			c.sendDone = true
			l.sh.sendCD.dec()
		}
		if !c.finalsDone {
			c.finalsDone = true
			l.sh.finalCD.dec()
		}
	}
}

// closed: our close handshake finished.
func (l *loop) closed(c *conn) {
	if c.churner && c.joined {
		l.st.ChurnCycles++
	}
}

func (l *loop) sendFrame(c *conn, op byte, payload []byte) bool {
	l.wbuf = appendFrame(l.wbuf[:0], op, payload, uint32(l.rnd.next()))
	return l.write(c, l.wbuf)
}

func (l *loop) onMessage(c *conn, p []byte, now int64) {
	if l.frozen {
		return // the run is over: what the server says while members leave is not part of it
	}
	var m serverMsg
	if !scanServerMsg(p, &m) {
		l.st.Unparsed++
		return
	}
	switch string(m.typ) {
	case "message":
		l.onChat(c, &m, now)
	case "userJoined":
		if !c.churner {
			l.st.UserJoined++
			l.seeCount(c, m.memberCount)
		}
	case "userLeft":
		if !c.churner {
			l.st.UserLeft++
		}
	case "roomJoined":
		l.onRoomJoined(c, m.memberCount, now)
	case "connected":
		l.sendJoin(c)
	case "error":
		l.st.ServerErrors++
		l.noteErr("server error: " + string(m.message))
	}
}

func (l *loop) sendJoin(c *conn) {
	if c.joinSent {
		return
	}
	c.joinSent = true
	var rb, ub [64]byte
	room := strconv.AppendInt(append(rb[:0], l.sh.prefix...), int64(c.room), 10)
	var user []byte
	if c.churner {
		user = strconv.AppendInt(append(ub[:0], 'c'), int64(c.idx), 10)
	} else {
		user = strconv.AppendInt(append(ub[:0], 'u'), int64(c.idx), 10)
	}
	l.pbuf = appendJoin(l.pbuf[:0], room, user)
	l.sendFrame(c, opText, l.pbuf)
}

func (l *loop) onRoomJoined(c *conn, count int64, now int64) {
	if c.churner {
		if c.joined {
			return
		}
		c.joined = true
		l.st.ChurnJoined++
		l.churnLat.Record(now - c.dialNs)
		if l.sendFrame(c, opText, []byte(leaveRoomMsg)) {
			l.startClose(c, now)
		}
		return
	}
	if c.joined || c.failed {
		return
	}
	c.joined = true
	c.deadline = 0
	l.st.Joined++
	l.joinLat.Record(now - c.dialNs)
	if now > l.st.LastJoinNs {
		l.st.LastJoinNs = now
	}
	l.seeCount(c, count)
	l.sh.joinCD.dec()
}

// seeCount tracks the largest memberCount a member has seen; once the join phase is over, a
// member whose room looks full to it has "settled" (seen every join announced).
func (l *loop) seeCount(c *conn, n int64) {
	if n > c.maxCount {
		c.maxCount = n
	}
	if l.settleArmed && !c.settled && c.joined && !c.dead && c.maxCount >= l.sh.roomJoined[c.room] {
		c.settled = true
		l.sh.settleCD.dec()
	}
}

// onChat accounts for one received chat message.
func (l *loop) onChat(c *conn, m *serverMsg, now int64) {
	if c.churner {
		return
	}
	if !c.receiver {
		l.st.Untracked++
		return
	}
	var ct content
	if !parseContent(m.content, &ct) {
		l.st.Foreign++
		return
	}
	lay := &l.sh.lay
	if ct.sender >= lay.members || lay.room(ct.sender) != c.room {
		l.st.Stray++
		return
	}
	own := ct.sender == c.idx
	a := c.track.observe(uint32(lay.pos(ct.sender)), lay.roomSize(c.room), ct.seq)
	if a == arrivalDuplicate {
		if own {
			l.st.EchoDuplicated++
		} else {
			l.st.Duplicated++
		}
		return
	}
	measured := ct.sentNs >= l.sh.measureNs
	if own {
		l.st.Echoes++
		if a == arrivalLate {
			l.st.EchoLate++
		}
		if measured {
			l.echoLat.Record(now - ct.sentNs)
		}
	} else {
		l.st.Delivered++
		if a == arrivalLate {
			l.st.OutOfOrder++
		}
		if measured {
			l.st.Measured++
			l.lat.Record(now - ct.sentNs)
		}
	}
	if ct.last {
		c.finalsSeen++
		if c.finalsSeen >= c.finalsNeed && !c.finalsDone {
			c.finalsDone = true
			l.sh.finalCD.dec()
		}
	}
}

// sendDue sends every message whose time has come.
func (l *loop) sendDue(now int64) {
	for l.heap.len() > 0 {
		c := l.heap.top()
		if c.nextDue > now {
			return
		}
		l.sendNext(c)
	}
}

func (l *loop) sendNext(c *conn) {
	ts := wallNow()
	lag := ts - c.nextDue
	if lag > l.st.MaxSendLagNs {
		l.st.MaxSendLagNs = lag
	}
	if lag > lateSendNs {
		l.st.LateSends++
	}
	last := c.sent+1 == c.planned
	p := append(l.pbuf[:0], `{"type":"message","content":"`...)
	p = appendContent(p, c.idx, c.sent, ts, last, l.sh.cfg.Size)
	p = append(p, `"}`...)
	l.pbuf = p
	if !l.sendFrame(c, opText, p) {
		return // dropped: drop() took it off the heap and out of the phases
	}
	c.sent++
	l.st.Sent++
	if last {
		l.heap.remove(c)
		c.sendDone = true
		l.sh.sendCD.dec()
		return
	}
	c.nextDue = l.sh.startNs + l.sh.sched.due(c.idx, c.sent)
	l.heap.fix(c.heapIdx)
}

// lateSendNs: a send this far behind its schedule means the load tool itself is saturated.
const lateSendNs = 10e6

// armSettle starts the settle phase on this loop (bigroom: wait until every member has seen its
// room full).
func (l *loop) armSettle() {
	l.settleArmed = true
	for _, c := range l.members {
		if c.joined && !c.settled && (c.dead || c.maxCount >= l.sh.roomJoined[c.room]) {
			c.settled = true
			l.sh.settleCD.dec()
		}
	}
}

// armStart starts the send phase on this loop: every joined, live member becomes a receiver and,
// if the schedule gives it messages, a sender.
func (l *loop) armStart() {
	l.startArmed = true
	for _, c := range l.members {
		if !c.joined {
			continue
		}
		if c.dead || c.state != stOpen {
			c.sendDone, c.finalsDone = true, true
			l.sh.sendCD.dec()
			l.sh.finalCD.dec()
			continue
		}
		c.receiver = true
		c.planned = l.sh.sched.planned(c.idx)
		c.finalsNeed = l.sh.finalsPerRoom[c.room]
		if c.planned > 0 {
			c.nextDue = l.sh.startNs + l.sh.sched.due(c.idx, 0)
			l.heap.push(c)
		} else {
			c.sendDone = true
			l.sh.sendCD.dec()
		}
		if c.finalsNeed == 0 {
			c.finalsDone = true
			l.sh.finalCD.dec()
		}
	}
}

// failPending fails every member still on its way to roomJoined when the join phase ends.
func (l *loop) failPending() {
	for _, c := range l.members {
		if !c.joined && !c.failed {
			l.drop(c, "timeout: join phase over before roomJoined")
		}
	}
}

// beginStop closes every connection with a close handshake; the loop exits when all are closed
// or after a grace period.
func (l *loop) beginStop(grace int64) {
	now := wallNow()
	l.stopping, l.frozen = true, true
	l.stopDeadline = now + grace
	for _, c := range l.conns {
		if c != nil {
			l.startClose(c, now)
		}
	}
}
