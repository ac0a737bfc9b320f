package memory

import (
	"container/list"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/chatd/chatd/server/broker"
)

// History of the memory broker: a capped ring of stored payloads per room
// (HistorySize messages, HistoryRoomBytes bytes: the oldest go first; a
// message larger than the bytes is delivered but not kept), kept after the
// room empties until its age passes. All histories together
// hold at most MaxBytes (each counts its payloads plus histOverhead and its
// room id); past it the rooms written least recently lose theirs (a later
// recovery there reports recovered: false, never a silent hole).
//
// A history is made by the room's first stored message or by the first Sync
// (a join), whichever comes first: a join names the epoch the room's
// messages will carry even before there is one. A history without messages
// lives HistoryAge after the last Sync that found it empty; one with
// messages, HistoryAge after its last message. When a room's members were
// told an epoch that is gone (expired, evicted, deleted), the next epoch
// named or delivered in the room comes with a Resync (room.epoch).

// history is one room's stored messages.
type history struct {
	epoch   string
	next    uint64        // the offset the next stored message gets
	ring    []stored      // oldest first, at most Size
	bytes   int           // what it costs in the node-wide MaxBytes accounting
	kept    int           // its messages in the per-room HistoryRoomBytes accounting (entryCost each, plus payloads)
	written time.Time     // the last store (or, without messages, the last Sync)
	lru     *list.Element // in Broker.lru, front = most recently written
}

// histOverhead is what a history costs besides its payloads and room id, in
// the MaxBytes accounting (the struct, its map entry and LRU element, the
// epoch): so that histories without messages, which joins make, are bounded
// too.
const histOverhead = 160

// entryCost is what a message counts against HistoryRoomBytes besides its
// payload: what the Redis broker's log entry adds to it (its time in ms and
// a space), so that one bound means the same on both brokers.
const entryCost = 14

type stored struct {
	offset  uint64
	at      time.Time
	payload string
}

// newEpoch returns a random epoch name.
func newEpoch() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// historyOf returns room's history, creating it; caller holds b.mu.
func (b *Broker) historyOf(room string) *history {
	h := b.hist[room]
	if h == nil || b.now().Sub(h.written) > b.opt.HistoryAge {
		if h != nil {
			b.dropHistory(room, h)
		}
		h = &history{epoch: newEpoch(), next: 1, written: b.now(), bytes: histOverhead + len(room)}
		h.lru = b.lru.PushFront(room)
		b.hist[room] = h
		b.histBytes += h.bytes
		b.evict()
	}
	return h
}

// evict drops the histories written least recently while all of them hold
// more than MaxBytes (never the newest one); caller holds b.mu.
func (b *Broker) evict() {
	for b.histBytes > b.opt.HistoryMaxBytes && b.lru.Len() > 1 {
		oldest := b.lru.Back().Value.(string)
		b.dropHistory(oldest, b.hist[oldest])
	}
}

// named records that room's members now hold epoch (told by a Sync, or by
// a delivered message): if they held another one, that history is gone, and
// they are told to resync first. Caller holds b.mu.
func (b *Broker) named(room, epoch string) {
	r := b.rooms[room]
	if r == nil || r.members.Len() == 0 {
		return // no member to tell (an empty record is left for a Publish or Sync: Leave)
	}
	if r.epoch != "" && r.epoch != epoch {
		b.r.Resync(room, "epoch")
	}
	r.epoch = epoch
}

// store appends ev to its room's history and returns its position and its
// payload (the body with the offset and epoch header members); caller holds
// b.mu.
func (b *Broker) store(ev *broker.Event) (broker.Position, string) {
	h := b.historyOf(ev.Room)
	pos := broker.Position{Epoch: h.epoch, Offset: h.next}
	h.next++
	payload := storedPayload(ev.Body, pos)
	now := b.now()
	grown := 0
	if max := b.opt.HistoryRoomBytes; max <= 0 || len(payload)+entryCost <= max {
		h.ring = append(h.ring, stored{offset: pos.Offset, at: now, payload: payload})
		b.histMsgs++
		grown += len(payload)
		h.kept += len(payload) + entryCost
	}
	for len(h.ring) > 0 && (len(h.ring) > b.opt.HistorySize ||
		b.opt.HistoryRoomBytes > 0 && h.kept > b.opt.HistoryRoomBytes) {
		grown -= len(h.ring[0].payload)
		h.kept -= len(h.ring[0].payload) + entryCost
		h.ring[0] = stored{}
		h.ring = h.ring[1:]
		b.histMsgs--
	}
	h.bytes += grown
	h.written = now
	b.histBytes += grown
	b.lru.MoveToFront(h.lru)
	b.evict()
	if b.opt.Sink != nil {
		b.opt.Sink.Append(ev.Room, pos.Epoch, pos.Offset, now, payload) // false: full, counted by the queue
	}
	b.named(ev.Room, pos.Epoch)
	return pos, payload
}

// syncRead answers a Sync: like read, but the room's history is made if it
// has none, so that the result names the epoch its messages will carry (a
// history without messages is kept HistoryAge from now on). Caller holds
// b.mu.
func (b *Broker) syncRead(room string, q broker.HistoryQuery) broker.HistoryResult {
	if b.opt.HistorySize > 0 {
		h := b.historyOf(room)
		if h.next == 1 {
			h.written = b.now()
			b.lru.MoveToFront(h.lru)
		}
		b.named(room, h.epoch)
	}
	return b.read(room, q)
}

func (b *Broker) dropHistory(room string, h *history) {
	b.histBytes -= h.bytes
	b.histMsgs -= len(h.ring)
	b.lru.Remove(h.lru)
	delete(b.hist, room)
}

// storedPayload is the body with the offset and epoch appended, as the Redis
// broker stores and publishes it.
func storedPayload(body []byte, pos broker.Position) string {
	buf := make([]byte, 0, len(body)+48)
	buf = append(buf, body[:len(body)-1]...)
	buf = append(buf, `,"`+broker.HeaderOffset+`":`...)
	buf = strconv.AppendUint(buf, pos.Offset, 10)
	buf = append(buf, `,"`+broker.HeaderEpoch+`":"`...)
	buf = append(buf, pos.Epoch...)
	buf = append(buf, `"}`...)
	return string(buf)
}

// read answers q from room's history; caller holds b.mu. Since recovers
// only when the history vouches for everything after it: its epoch (a
// Since without one, e.g. {"", 0}, names none), an offset up to the newest,
// and every message after it still kept.
func (b *Broker) read(room string, q broker.HistoryQuery) broker.HistoryResult {
	h := b.hist[room]
	now := b.now()
	if h == nil || now.Sub(h.written) > b.opt.HistoryAge {
		return broker.HistoryResult{}
	}
	res := broker.HistoryResult{Position: broker.Position{Epoch: h.epoch, Offset: h.next - 1}}
	// The messages still young enough.
	live := h.ring
	for len(live) > 0 && now.Sub(live[0].at) > b.opt.HistoryAge {
		live = live[1:]
	}
	if s := q.Since; s != nil && s.Epoch != "" && s.Epoch == h.epoch && s.Offset <= res.Offset {
		// Covered when every offset after s is kept (a message larger than
		// HistoryRoomBytes leaves a hole).
		var after []string
		for _, m := range live {
			if m.offset > s.Offset {
				after = append(after, m.payload)
			}
		}
		if uint64(len(after)) == res.Offset-s.Offset {
			res.Messages, res.Recovered = after, true
			return res
		}
	}
	if q.Before > 0 {
		for len(live) > 0 && live[len(live)-1].offset >= q.Before {
			live = live[:len(live)-1]
		}
	}
	if len(live) > q.Limit {
		live = live[len(live)-q.Limit:]
	}
	for _, m := range live {
		res.Messages = append(res.Messages, m.payload)
	}
	return res
}

// DeleteHistory implements broker.Broker.
func (b *Broker) DeleteHistory(room string, done func(error)) {
	b.mu.Lock()
	if h := b.hist[room]; h != nil {
		b.dropHistory(room, h)
	}
	b.mu.Unlock()
	done(nil)
}
