package bench

// Protocol v2 as a benchmark client plays it (see the README), on the loop goroutine: hello first,
// then a join per room (pipelined: the server handles one connection's requests in order),
// publishes with ids, and the accounting of every push, join result and reply.
//
// The accounting is v1's, per room: a member of K rooms publishes its message seq to slot
// seq % K as that room's message seq / K, and a receiver tracks each (room, sender) stream
// exactly as a v1 receiver tracks a sender. v2 pushes nothing back to the publisher; the reply to
// a publish (its ok) takes the place of v1's echo. Offsets, when the server has history, are kept
// in a second ledger per room (offsets.go).

// errNoHistory is why a recovery member fails its join against a server without history.
const errNoHistory = "recovery: a publish was answered without an offset: the server keeps no history (the README's protocol v2: offsets), which this workload needs"

func (l *loop) sendHello(c *conn) {
	var ub [24]byte
	l.pbuf = appendHello(l.pbuf[:0], appendUserName(ub[:0], c))
	l.sendFrame(c, opText, l.pbuf)
}

// sendJoinV2 joins the member's room at slot j: a first join, or, once the member has joined
// (an outage, a resync), a re-join with since from where its history ledger stands.
func (l *loop) sendJoinV2(c *conn, j int) {
	r := c.room
	if !c.churner {
		r = l.sh.lay.roomOf(c.idx, j)
	}
	history := -1
	if l.sh.recovery {
		history = 0
	}
	var from *since
	if s := c.slot(j); c.joined && s.off != nil {
		s.off.since = s.off.last
		from = &since{epoch: s.off.epoch, offset: s.off.last}
	}
	var rb [64]byte
	l.pbuf = appendJoinV2(l.pbuf[:0], j, l.appendRoomID(rb[:0], r), history, from)
	l.sendFrame(c, opText, l.pbuf)
}

func (l *loop) onMessageV2(c *conn, p []byte, now int64) {
	var m serverMsg
	if !scanServerMsg(p, &m) {
		l.st.Unparsed++
		return
	}
	switch string(m.typ) {
	case "message":
		l.onChatV2(c, &m, now, nil)
	case "ok":
		l.onReply(c, &m, now, true)
	case "error":
		if len(m.id) == 0 {
			l.st.ServerErrors++
			l.noteErr("server error: " + string(m.code) + ": " + string(m.message))
			return
		}
		l.onReply(c, &m, now, false)
	case "joined":
		if !c.churner {
			l.st.UserJoined++
			if s := l.slotOf(c, m.roomID); s != nil {
				l.seeCount(c, s, m.memberCount)
			}
		}
	case "left":
		if !c.churner {
			l.st.UserLeft++
		}
	case "resync":
		l.onResync(c, &m)
	}
}

// slotOf is c's slot for a room id, or nil if c is not a member of that room.
func (l *loop) slotOf(c *conn, roomID []byte) *slot {
	r := l.roomIndex(roomID)
	if r < 0 {
		return nil
	}
	j, ok := l.sh.lay.slotIn(c.idx, r)
	if !ok {
		return nil
	}
	return c.slot(j)
}

// onReply handles an ok or an error that carries one of our request ids.
func (l *loop) onReply(c *conn, m *serverMsg, now int64, ok bool) {
	id := parseReplyID(m.id)
	switch id.kind {
	case 'h':
		l.onHelloReply(c, m, ok)
	case 'j':
		l.onJoinReply(c, m, int(id.n), ok, now)
	case 'l':
		if !ok {
			l.noteErr("leave refused: " + string(m.code) + ": " + string(m.message))
		}
	case 'p':
		l.onPublishReply(c, m, id, ok, now)
	default:
		l.st.BadReplies++
	}
}

func (l *loop) onHelloReply(c *conn, m *serverMsg, ok bool) {
	if !ok {
		l.drop(c, "hello refused: "+string(m.code)+": "+string(m.message))
		return
	}
	if c.helloDone {
		l.st.BadReplies++
		return
	}
	c.helloDone = true
	if c.churner {
		l.sendJoinV2(c, 0)
		return
	}
	for j := 0; j < l.sh.k; j++ {
		l.sendJoinV2(c, j)
	}
}

func (l *loop) onJoinReply(c *conn, m *serverMsg, j int, ok bool, now int64) {
	if j >= l.sh.k || (c.churner && j != 0) {
		l.st.BadReplies++
		return
	}
	if !ok {
		l.drop(c, "join refused: "+string(m.code)+": "+string(m.message))
		return
	}
	if c.churner {
		l.churnerJoined(c, now)
		return
	}
	s := c.slot(j)
	if s.joined {
		l.st.BadReplies++
		return
	}
	s.joined = true
	c.slotsJoined++
	if !c.joined {
		// A first join: its epoch and offset are where this member's view of the room starts.
		if len(m.epoch) > 0 || m.offset >= 0 {
			s.off = &offsetLedger{epoch: l.intern(m.epoch), base: uint64(max(m.offset, 0)), last: uint64(max(m.offset, 0))}
		}
		// (A room without stored messages yet answers epoch ""; the epoch then comes with the
		// room's first messages, see adoptEpoch. A server without history shows in the
		// offsets its messages lack.)
		l.seeCount(c, s, m.memberCount)
		l.joinMessages(c, m, now, &joinResult{})
		if int(c.slotsJoined) == l.sh.k {
			l.memberJoined(c, now)
		}
		return
	}
	// A re-join with since, after an outage or a resync.
	jr := &joinResult{recovered: true}
	if s.off != nil {
		jr.since, jr.known = s.off.since, s.off.last
		if m.recovered != 1 {
			l.st.RecoveryFailed++
		} else {
			l.st.Recovered++
		}
		l.adoptEpoch(s, m.epoch) // it went away before its room's first message reached it
		if len(m.epoch) > 0 && string(m.epoch) != s.off.epoch {
			// A new life of the room's history: its offsets restart, and this member's ledger
			// of the old one means nothing for them.
			l.st.EpochChanges++
			s.off.broken = true
		}
	}
	l.seeCount(c, s, m.memberCount)
	l.joinMessages(c, m, now, jr)
	if c.rejoining && int(c.slotsJoined) == l.sh.k {
		l.rejoined(c, now)
	}
}

// joinResult describes the join result whose messages are being accounted.
//
// A re-join answering a resync is a leave and a join: until the server has handled them, the
// room's pushes keep coming, after the since the join carries. Its result then returns those
// messages again, by request: offsets in (since, known], known being the highest offset received
// when the result came. A member that has one of them already counts it as known, not as a
// duplicate (a real client drops it by its offset). An outage's re-join has no such window: no
// push reaches a member that is away.
type joinResult struct {
	recovered    bool // a re-join with since (else a first join)
	since, known uint64
}

// joinMessages accounts for the messages of a join result, each like a push of its room.
func (l *loop) joinMessages(c *conn, m *serverMsg, now int64, jr *joinResult) {
	if len(m.messages) == 0 {
		return
	}
	room := m.roomID
	for i := 0; ; {
		start, end, next, ok := nextElem(m.messages, i)
		if !ok {
			return
		}
		i = next
		var e serverMsg
		if !scanServerMsg(m.messages[start:end], &e) {
			l.st.Unparsed++
			continue
		}
		if len(e.roomID) == 0 {
			e.roomID = room
		}
		l.onChatV2(c, &e, now, jr)
	}
}

// onPublishReply accounts for the reply to one of our publishes: the v2 counterpart of the echo.
func (l *loop) onPublishReply(c *conn, m *serverMsg, id replyID, ok bool, now int64) {
	if c.churner || id.n >= c.sent {
		l.st.BadReplies++
		return
	}
	if c.acks == nil {
		c.acks = &recvTrack{}
	}
	switch c.acks.observe(0, 1, id.n) {
	case arrivalDuplicate:
		l.st.AckDuplicated++
		return
	case arrivalLate:
		l.st.AckLate++
	}
	c.answered++
	j := int(id.n % uint32(l.sh.k))
	if ok {
		l.st.Acks++
		if id.ns >= l.sh.measureNs {
			l.ackLat.Record(now - id.ns)
		}
		if m.offset >= 0 {
			l.st.WithOffset++
			l.seeOffset(c.slot(j), m.offset, offOwnAck)
		} else {
			l.st.NoOffset++
			if l.sh.recovery {
				// A stored message always gets an offset: this server keeps no history.
				l.st.NoHistory++
				l.drop(c, errNoHistory)
				return
			}
		}
	} else {
		l.st.AckErrors++
		l.noteErr("publish refused: " + string(m.code) + ": " + string(m.message))
	}
	if c.receiver && lastInStream(id.n, c.planned, l.sh.k) {
		l.finalSeen(c)
	}
	if c.wantAway && c.answered == c.sent {
		l.doAway(c, now)
	}
}

// onChatV2 accounts for one message of a room: a push (jr nil), or an entry of a join result's
// messages.
func (l *loop) onChatV2(c *conn, m *serverMsg, now int64, jr *joinResult) {
	recovered := jr != nil && jr.recovered
	if c.churner {
		return
	}
	lay := &l.sh.lay
	r := l.roomIndex(m.roomID)
	j, in := 0, false
	if r >= 0 {
		j, in = lay.slotIn(c.idx, r)
	}
	if !in {
		l.st.Stray++ // a room this member is not in
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
	k := uint32(l.sh.k)
	js := int(ct.seq % k)
	if ct.sender >= lay.members || lay.roomOf(ct.sender, js) != r {
		l.st.Stray++ // published to another room
		return
	}
	s := c.slot(j)
	if ct.sender == c.idx {
		// Our own message: never pushed to us; in a recovered history it may be, when the
		// since offset was below our own last publish (its reply can overtake others' pushes).
		if !recovered {
			l.st.SelfPushes++
			return
		}
		l.st.OwnRecovered++
		if m.offset >= 0 {
			l.seeOffset(s, m.offset, offOwnRecovered)
		}
		return
	}
	a := s.track.observe(uint32(lay.posOf(ct.sender, js)), lay.roomSize(r), ct.seq/k)
	kind := offPush
	if a == arrivalDuplicate && recovered && m.offset > int64(jr.since) && m.offset <= int64(jr.known) {
		kind = offKnown
	}
	if m.offset >= 0 {
		l.st.WithOffset++
		l.adoptEpoch(s, m.epoch)
		l.seeOffset(s, m.offset, kind)
	} else {
		l.st.NoOffset++
	}
	if a == arrivalDuplicate {
		if kind == offKnown {
			l.st.RecoveredKnown++
		} else {
			l.st.Duplicated++
		}
		return
	}
	l.st.Delivered++
	if a == arrivalLate {
		l.st.OutOfOrder++
	}
	// Recovered messages are counted, not timed: their delay is mostly the outage.
	if recovered {
		l.st.RecoveredMessages++
	} else if ct.sentNs >= l.sh.measureNs {
		l.st.Measured++
		l.lat.Record(now - ct.sentNs)
	}
	if ct.last {
		l.finalSeen(c)
	}
}

// onResync: the server cannot vouch for a room's continuity; the member re-joins it with since
// (leave, then join: both answered in order).
func (l *loop) onResync(c *conn, m *serverMsg) {
	if c.churner {
		return
	}
	l.st.Resyncs++
	s := l.slotOf(c, m.roomID)
	if s == nil || !c.joined || !s.joined || c.rejoining {
		return // not a room of ours, or a (re-)join is under way anyway
	}
	r := l.roomIndex(m.roomID)
	j, _ := l.sh.lay.slotIn(c.idx, r)
	s.joined = false
	c.slotsJoined--
	var rb [64]byte
	l.pbuf = appendLeaveV2(l.pbuf[:0], j, l.appendRoomID(rb[:0], r))
	if l.sendFrame(c, opText, l.pbuf) {
		l.sendJoinV2(c, j)
	}
}

// adoptEpoch learns a room's epoch from a message push when the member joined the room before it
// had any stored message (its join result said epoch ""), so that a later since names it.
func (l *loop) adoptEpoch(s *slot, epoch []byte) {
	if s.off != nil && s.off.epoch == "" && len(epoch) > 0 && !s.off.broken {
		s.off.epoch = l.intern(epoch)
	}
}

// intern returns one string per distinct epoch, so a loop's members share it.
func (l *loop) intern(b []byte) string {
	if e, ok := l.epochs[string(b)]; ok {
		return e
	}
	e := string(b)
	l.epochs[e] = e
	return e
}
