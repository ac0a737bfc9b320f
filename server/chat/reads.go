package chat

import (
	"time"

	"github.com/chatd/chatd/server/broker"
)

// History pages back through a joined room's stored messages: those with
// offsets below before (0: the newest), at most limit (0 or more than
// HistoryLimit: HistoryLimit) and at most half a connection's outbound
// limit of JSON (the newest of them), oldest first. done runs on the loop; the
// session is busy until then.
func (s *Session) History(roomID string, before uint64, limit int, done func([]*Event, *Error)) {
	if s.in(roomID) == nil {
		done(nil, NotIn(roomID))
		return
	}
	n := s.node
	if limit == 0 || limit > n.cfg.HistoryLimit {
		limit = n.cfg.HistoryLimit
	}
	answer := s.Await()
	n.m.historyReads.Inc()
	n.broker.History(roomID, broker.HistoryQuery{Before: before, Limit: limit},
		func(res broker.HistoryResult, err error) {
			answer(func() {
				if err != nil {
					done(nil, errNoHistory)
					return
				}
				evs, _ := n.fitReply(n.DecodeMessages(roomID, res.Messages))
				done(evs, nil)
			})
		})
}

// typingTick is the unit of the typing clock (rooms.Ref.Stamp).
const typingTick = int64(8 * time.Millisecond)

// Typing tells a joined room's other members the user is typing: never
// stored, never echoed, and at most one per TypingInterval per connection
// and room forwarded (the rest are dropped, counted).
func (s *Session) Typing(roomID string) *Error {
	m := s.in(roomID)
	if m == nil {
		return NotIn(roomID)
	}
	n := s.node
	// A 16-bit clock of 8 ms ticks, kept in two bytes of the membership: it
	// wraps every 524 s, so a notice exactly a multiple of that after the
	// last one may be dropped too; harmless for a typing indicator.
	now := uint16(n.now()/typingTick) | 1
	if m.Stamp != 0 && int64(now-m.Stamp)*typingTick < int64(n.cfg.TypingInterval) {
		n.m.typingDrops.Inc()
		return nil
	}
	m.Stamp = now
	s.publish(&Event{Kind: EvTyping, Room: roomID, Name: s.Name(), UserID: s.UserID(), skip: s}, nil)
	return nil
}
