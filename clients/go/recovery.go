package chatdclient

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Recovery: how a room stays whole across reconnects, server resyncs and
// lost pushes. Each room tracks its epoch and the offsets it has had
// (track). A join with since {epoch, offset} answers what came after
// (recovered) or says it cannot (recovered: false: a gap); the live stream
// after a join reply with offset N continues at N+1. While a recovery is on
// its way the room holds its pushes and delivers them after the reply, so
// that messages come in offset order; duplicates (the same offset twice) are
// dropped. A hole in the offsets that no publish of ours can fill, or a push
// of another epoch, starts a recovery too: never a silent hole.

// Why a room recovers (RecoveredEvent.Reason, GapEvent.Reason).
const (
	reasonReconnect = "reconnect" // the connection dropped; the room is re-joined on the next
	reasonResync    = "resync"    // the server cannot vouch for the room's continuity
	reasonResume    = "resume"    // JoinOptions.Since
	reasonHole      = "hole"      // an offset is missing between pushes
	reasonEpoch     = "epoch"     // a push of another epoch
)

// roomState is a joined room's state; guarded by Client.mu.
type roomState struct {
	id, name string
	history  int // the join's History, asked again on every re-join
	track
	memberCount int
	joined      bool   // joined on the current connection
	recovering  bool   // a join with since (or a first join: joinWait) is on its way: pushes wait in held
	rejoinDue   bool   // its re-join waits for its turn (paceRejoins): its requests are refused
	again       string // another recovery is due after this one (its reason)
	held        []wireMessage
	heldBytes   int  // held's size, roughly
	heldDropped bool // held overflowed: recover again after
	publishing  int  // publishes waiting for their reply (their offsets may fill a hole)
	gone        bool // left or lost
	retries     int
	retry       *time.Timer
	typing      typingState
	handle      *Room
}

// offline forgets what belonged to the connection that ended.
func (rs *roomState) offline() {
	rs.joined, rs.recovering, rs.rejoinDue, rs.again = false, false, false, ""
	rs.held, rs.heldBytes, rs.heldDropped = nil, 0, false
	if rs.retry != nil {
		rs.retry.Stop()
		rs.retry = nil
	}
	rs.typing.stop()
}

// hold keeps a push until the recovery on its way has answered; past the
// bounds the push is dropped, and the room recovers again after.
func (rs *roomState) hold(m wireMessage) {
	size := len(m.Content) + len(m.Name) + len(m.UserID) + len(m.Epoch) + len(m.Timestamp) + heldOverhead
	if len(rs.held) >= maxHeldPushes || rs.heldBytes+size > maxHeldBytes {
		rs.heldDropped = true
		return
	}
	rs.held = append(rs.held, m)
	rs.heldBytes += size
}

// joinRequest is the join that recovers the room from where it stands.
func (rs *roomState) joinRequest() *request {
	pos := rs.position()
	return &request{Type: reqJoin, RoomID: rs.id, RoomName: rs.name, History: rs.history, Since: &pos}
}

// rejoinLocked sends, on a new connection, a join with since for every room:
// rejoinBurst at once, the rest paced at rejoinRate per second, under the
// server's per-connection request rate (20/s, burst 40), so that none is
// refused as rate_limited. Caller holds c.mu.
func (c *Client) rejoinLocked(s *session) {
	ids := make([]string, 0, len(c.rooms))
	for id := range c.rooms {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var later []*roomState
	for i, id := range ids {
		rs := c.rooms[id]
		rs.recovering = true
		if i < rejoinBurst {
			c.sendRecoveryLocked(s, rs, reasonReconnect, false)
		} else {
			rs.rejoinDue = true
			later = append(later, rs)
		}
	}
	if len(later) > 0 {
		go c.paceRejoins(s, later)
	}
}

// paceRejoins sends the re-joins past the burst, one per 1/rejoinRate s, while
// s is the connection.
func (c *Client) paceRejoins(s *session, rooms []*roomState) {
	t := time.NewTicker(time.Second / rejoinRate)
	defer t.Stop()
	for _, rs := range rooms {
		select {
		case <-t.C:
		case <-s.done:
			return
		}
		c.mu.Lock()
		if c.sess == s && !rs.gone && rs.rejoinDue {
			rs.rejoinDue = false
			// Written under c.mu, so that no request of the room goes before its join.
			c.sendRecoveryLocked(s, rs, reasonReconnect, false)
		}
		c.mu.Unlock()
	}
}

// startRecoveryLocked recovers a joined room in place (after a resync, a
// hole or a push of another epoch). Caller holds c.mu.
func (c *Client) startRecoveryLocked(s *session, rs *roomState, reason string) {
	if rs.gone || c.sess != s || s == nil {
		return
	}
	if rs.recovering {
		if rs.again == "" {
			rs.again = reason
		}
		return
	}
	rs.recovering = true
	c.sendRecoveryLocked(s, rs, reason, true)
}

// sendRecoveryLocked sends rs's join with since; async writes from another
// goroutine (the caller may be the read loop). Caller holds c.mu.
func (c *Client) sendRecoveryLocked(s *session, rs *roomState, reason string, async bool) {
	req := c.sendLocked(s, rs.id, rs.joinRequest(), func(s *session, f *inbound, err error, _ bool) {
		c.recovered(s, rs, f, err, reason)
	})
	if req == nil {
		return
	}
	if async {
		go s.write(req) //nolint:errcheck // a failed write ends the session, which fails the call
	} else {
		_ = s.write(req)
	}
}

// recovered handles the reply to a recovery, on the read loop.
func (c *Client) recovered(s *session, rs *roomState, f *inbound, err error, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rs.gone || c.sess != s {
		return
	}
	if err != nil {
		var se *ServerError
		switch {
		case errors.Is(err, ErrConnectionLost):
			// The next connection re-joins.
		case errors.As(err, &se) && !se.Temporary():
			c.loseLocked(s, rs, err)
		default:
			// Try again on this connection, with backoff; pushes keep waiting in held.
			delay := backoffDelay(rs.retries, c.cfg.BackoffMin, c.cfg.BackoffMax, jitter())
			rs.retries++
			c.emitErrorLocked(rs.id, fmt.Errorf("chatdclient: re-join of room %q (retry in %v): %w", rs.id,
				delay.Round(time.Millisecond), err))
			rs.retry = time.AfterFunc(delay, func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				if c.sess == s && !rs.gone && rs.recovering {
					c.sendRecoveryLocked(s, rs, reason, true)
				}
			})
		}
		return
	}
	rs.retries = 0
	c.applyJoinLocked(s, rs, f, true, reason)
}

// loseLocked drops a room the server will not let the client back into.
func (c *Client) loseLocked(s *session, rs *roomState, err error) {
	joined := rs.joined
	rs.gone = true
	rs.offline()
	delete(c.rooms, rs.id)
	c.q.push(RoomLostEvent{RoomID: rs.id, Err: err}, true)
	if joined && s != nil && !s.isEnded() {
		// A refused recovery in place: the connection is still in the room on the server.
		go s.write(&request{Type: reqLeave, RoomID: rs.id}) //nolint:errcheck
	}
}

// applyJoinLocked takes a join reply: a first join (since false) sets the
// room's position and delivers its History; a join with since delivers what
// was missed (RecoveredEvent) or reports a gap (GapEvent) and delivers the
// newest. Then the pushes held meanwhile go out. Caller holds c.mu.
func (c *Client) applyJoinLocked(s *session, rs *roomState, f *inbound, since bool, reason string) {
	rs.memberCount = f.MemberCount
	rs.joined = true
	switch {
	case !since:
		rs.at(f.Epoch, f.Offset)
		c.replayLocked(s, rs, f.Messages)
	case f.Recovered != nil && *f.Recovered && (rs.epoch != "" || f.Epoch != ""):
		// (Neither side naming an epoch means the server keeps no history for the room: it cannot
		// vouch for what was missed, whatever recovered says: that is a gap.)
		if rs.epoch == "" && rs.last == 0 {
			rs.epoch = f.Epoch // "" and 0 say "nothing seen yet": the whole epoch was recovered
		}
		missed := 0
		for i := range f.Messages {
			m := &f.Messages[i]
			if m.Offset != 0 && rs.has(m.Offset) {
				c.stats.Duplicates++
				continue
			}
			if !c.emitData(s, MessageEvent{Message: m.message(rs.id), Replay: true}) {
				return // the connection drops: the next one recovers from here
			}
			rs.mark(m.Offset)
			missed++
		}
		c.stats.Recoveries++
		c.q.push(RecoveredEvent{RoomID: rs.id, Missed: missed, Reason: reason, Position: rs.position()}, true)
	default:
		c.stats.Gaps++
		c.q.push(GapEvent{RoomID: rs.id, Reason: reason, From: rs.position(), Epoch: f.Epoch, Offset: f.Offset}, true)
		rs.at(f.Epoch, f.Offset)
		c.replayLocked(s, rs, f.Messages)
	}
	rs.recovering = false
	held, dropped := rs.held, rs.heldDropped
	rs.held, rs.heldBytes, rs.heldDropped = nil, 0, false
	for _, m := range held {
		if m.Epoch != "" && m.Epoch != rs.epoch {
			// Sent before the reply, which names the room's epoch: an older life of the history.
			c.stats.Stale++
			continue
		}
		c.acceptLocked(s, rs, m)
	}
	switch {
	case rs.again != "":
		again := rs.again
		rs.again = ""
		c.startRecoveryLocked(s, rs, again)
	case dropped:
		c.startRecoveryLocked(s, rs, reasonHole)
	}
}

// replayLocked delivers the messages of a join reply whose offset the room
// already stands at. If the application is too far behind, the room's
// position goes back to before the first message not delivered, so that the
// next connection recovers it.
func (c *Client) replayLocked(s *session, rs *roomState, msgs []wireMessage) {
	for i := range msgs {
		m := &msgs[i]
		if !c.emitData(s, MessageEvent{Message: m.message(rs.id), Replay: true}) {
			if m.Offset > 0 {
				rs.at(rs.epoch, m.Offset-1)
			}
			return
		}
	}
}

// acceptLocked takes a message push. Caller holds c.mu.
func (c *Client) acceptLocked(s *session, rs *roomState, m wireMessage) {
	if rs.recovering {
		rs.hold(m)
		return
	}
	if m.Offset == 0 {
		// A server without history (or a node that stores none): nothing to track.
		c.emitData(s, MessageEvent{Message: m.message(rs.id)})
		return
	}
	if m.Epoch != "" && m.Epoch != rs.epoch {
		if rs.epoch == "" {
			// Joined before the room had an epoch, on a server that did not name it: adopt it (the
			// offsets had so far are our own publishes', in this epoch).
			rs.epoch = m.Epoch
		} else {
			c.startRecoveryLocked(s, rs, reasonEpoch)
			if rs.recovering {
				rs.hold(m) // judged after the reply
			} else {
				c.stats.Stale++ // (no connection to recover on: the next one re-joins)
			}
			return
		}
	}
	if rs.has(m.Offset) {
		c.stats.Duplicates++
		return
	}
	if m.Offset > rs.last+1 && rs.publishing == 0 {
		// A hole no publish of ours can fill: recover it first, so that messages stay in order.
		c.startRecoveryLocked(s, rs, reasonHole)
		if rs.recovering {
			rs.hold(m)
			return
		}
	}
	if !c.emitData(s, MessageEvent{Message: m.message(rs.id)}) {
		return
	}
	rs.mark(m.Offset)
	c.checkHoleLocked(s, rs)
}

// checkHoleLocked recovers a room whose offsets have a hole that no publish
// of ours on its way can fill. Caller holds c.mu.
func (c *Client) checkHoleLocked(s *session, rs *roomState) {
	if rs.hole() && (rs.publishing == 0 || len(rs.ahead) > maxAhead) {
		c.startRecoveryLocked(s, rs, reasonHole)
	}
}
