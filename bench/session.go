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
	if c.holdsToken && (!l.sh.cfg.DialUntilJoined || c.churner || c.rejoining) {
		c.holdsToken = false
		<-l.sh.dialSem
	}
	if !c.churner && !c.rejoining {
		l.st.Connected++
	}
	c.deadline = wallNow() + int64(l.sh.cfg.ConnectTimeout)
	if l.sh.v2 {
		l.sendHello(c)
	}
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
	if c.rejoining {
		// recovery: the member went away on purpose and could not come back.
		l.st.ReconnectFailed++
		l.noteErr("reconnect: " + reason)
		l.retire(c)
		return
	}
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
	if l.sh.v2 {
		l.onMessageV2(c, p, now)
		return
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
			l.seeCount(c, &c.s0, m.memberCount)
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
	l.pbuf = appendJoin(l.pbuf[:0], l.appendRoomID(rb[:0], c.room), appendUserName(ub[:0], c))
	l.sendFrame(c, opText, l.pbuf)
}

// appendRoomID appends the id of room r of this run.
func (l *loop) appendRoomID(dst []byte, r int) []byte {
	return strconv.AppendInt(append(dst, l.sh.prefix...), int64(r), 10)
}

// roomIndex is the room number of a room id of this run, or -1.
func (l *loop) roomIndex(id []byte) int {
	p := l.sh.prefix
	if len(id) <= len(p) || string(id[:len(p)]) != string(p) {
		return -1
	}
	n, ok := parseDecimal(id[len(p):])
	if !ok || n >= int64(l.sh.lay.rooms) {
		return -1
	}
	return int(n)
}

// appendUserName appends the member's name: u<index>, churners c<cycle>.
func appendUserName(dst []byte, c *conn) []byte {
	if c.churner {
		return strconv.AppendInt(append(dst, 'c'), int64(c.idx), 10)
	}
	return strconv.AppendInt(append(dst, 'u'), int64(c.idx), 10)
}

func (l *loop) onRoomJoined(c *conn, count int64, now int64) {
	if c.churner {
		l.churnerJoined(c, now)
		return
	}
	if c.joined || c.failed {
		return
	}
	l.seeCount(c, &c.s0, count)
	l.memberJoined(c, now)
}

// churnerJoined: a churn cycle joined; it leaves and closes at once.
func (l *loop) churnerJoined(c *conn, now int64) {
	if c.joined {
		return
	}
	c.joined = true
	l.st.ChurnJoined++
	l.churnLat.Record(now - c.dialNs)
	leave := []byte(leaveRoomMsg)
	if l.sh.v2 {
		var rb [64]byte
		leave = appendLeaveV2(l.pbuf[:0], -1, l.appendRoomID(rb[:0], c.room))
	}
	if l.sendFrame(c, opText, leave) {
		l.startClose(c, now)
	}
}

// memberJoined: a member is in all its rooms (v1: roomJoined; v2: the ok of every join).
func (l *loop) memberJoined(c *conn, now int64) {
	if c.joined || c.failed {
		return
	}
	c.joined = true
	c.deadline = 0
	if c.holdsToken { // -dial-until-joined
		c.holdsToken = false
		<-l.sh.dialSem
	}
	l.st.Joined++
	l.joinLat.Record(now - c.dialNs)
	if now > l.st.LastJoinNs {
		l.st.LastJoinNs = now
	}
	l.checkSettled(c)
	l.sh.joinCD.dec()
}

// seeCount tracks the largest memberCount a member has seen in a room; once the join phase is
// over, a member whose rooms all look full to it has "settled" (seen every join announced).
func (l *loop) seeCount(c *conn, s *slot, n int64) {
	if n > s.maxCount {
		s.maxCount = n
	}
	l.checkSettled(c)
}

func (l *loop) checkSettled(c *conn) {
	if l.settleArmed && !c.settled && c.joined && !c.dead && l.full(c) {
		c.settled = true
		l.sh.settleCD.dec()
	}
}

// full reports whether every room of c has looked full to it.
func (l *loop) full(c *conn) bool {
	for j := 0; j < l.sh.k; j++ {
		if c.slot(j).maxCount < l.sh.roomJoined[l.sh.lay.roomOf(c.idx, j)] {
			return false
		}
	}
	return true
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
	a := c.s0.track.observe(uint32(lay.pos(ct.sender)), lay.roomSize(c.room), ct.seq)
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
		l.finalSeen(c)
	}
}

// finalSeen: c has one more of the last messages it waits for (a sender's last to one of its
// rooms; its own: v1 the echo, v2 the publish's reply).
func (l *loop) finalSeen(c *conn) {
	c.finalsSeen++
	if c.finalsSeen >= c.finalsNeed && !c.finalsDone {
		c.finalsDone = true
		l.sh.finalCD.dec()
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
	// A member back from an outage catches up on what fell due while it was away: those sends
	// are late on purpose and say nothing about the load tool.
	if c.nextDue >= c.backNs {
		lag := ts - c.nextDue
		if lag > l.st.MaxSendLagNs {
			l.st.MaxSendLagNs = lag
		}
		if lag > lateSendNs {
			l.st.LateSends++
		}
	}
	done := c.sent+1 == c.planned
	var p []byte
	if l.sh.v2 {
		// Round-robin over the member's rooms; the flag marks its last message to that room.
		var rb [64]byte
		room := l.appendRoomID(rb[:0], l.sh.lay.roomOf(c.idx, int(c.sent%uint32(l.sh.k))))
		p = appendPublish(l.pbuf[:0], room, c.idx, c.sent, ts, lastInStream(c.sent, c.planned, l.sh.k), l.sh.cfg.Size)
	} else {
		p = append(l.pbuf[:0], `{"type":"message","content":"`...)
		p = appendContent(p, c.idx, c.sent, ts, done, l.sh.cfg.Size)
		p = append(p, `"}`...)
	}
	l.pbuf = p
	if !l.sendFrame(c, opText, p) {
		return // dropped: drop() took it off the heap and out of the phases
	}
	c.sent++
	l.st.Sent++
	if done {
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
		if c.joined && !c.settled && (c.dead || l.full(c)) {
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
		c.finalsNeed = 0
		for j := 0; j < l.sh.k; j++ {
			c.finalsNeed += l.sh.finalsPerRoom[l.sh.lay.roomOf(c.idx, j)]
		}
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
