package redis

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatd/chatd/server/broker"
)

// Delivery with no silent hole.
//
// Redis Pub/Sub drops what it cannot deliver: a message published while the
// subscriber connection is down, or one a test hook drops, is gone. Stored
// messages carry their offset, so each node keeps, per subscribed room, the
// last offset it delivered (a flow). A stored event whose offset skips ahead
// means messages were lost on the way: they are read back from the room's
// history and delivered first, in order; if the history no longer has them,
// the node tells the room's members to resync and goes on. An event at or
// below the last offset is a duplicate (e.g. also read back by a fill) and
// is dropped. Events without an offset (presence, typing, the reference
// app's) are delivered as they come, in order with the others.
//
// Everything a flow does happens in queue order: events, Sync barriers (a
// joiner's history read, which must fall between two deliveries), and
// checkpoints (after the room is subscribed, on every connection: the
// room's position in Redis is read and compared with the flow's, which
// fills what was published while the node was not listening). Steps that
// need Redis run on their own goroutine while the flow holds its queue
// (busy); other rooms go on meanwhile, and nothing blocks an event loop.

// roomFlow is one subscribed room's delivery state.
type roomFlow struct {
	mu      sync.Mutex
	pos     broker.Position // the last stored event delivered (epoch, offset)
	based   bool            // pos was read from Redis at least once
	renewed time.Time       // a Sync last named the epoch in Redis (renewing an empty epoch's TTL)
	busy    bool            // a step is reading Redis; the queue waits
	queue   []flowItem

	// The joins of this node waiting to be placed where their
	// announcement passes (notice.go), under amu (taken under mu, or
	// alone); waiting is their number, read without amu by run.
	amu      sync.Mutex
	awaiting []*stateOp
	waiting  atomic.Int32
}

// flowItem is one thing to do in a room's delivery order.
type flowItem struct {
	payload string                            // an event
	sync    func(broker.Position) (read bool) // a Sync barrier: true if it reads Redis (then it resumes the flow)
	check   func()                            // a checkpoint; the func runs after it (subscribe waiters)
}

// flowOf returns room's flow, or nil if the room is not subscribed.
func (b *Broker) flowOf(room string) *roomFlow {
	b.fmu.RLock()
	f := b.flows[room]
	b.fmu.RUnlock()
	return f
}

// deliver handles one event of a room channel, in the room's order.
func (b *Broker) deliver(channel, payload string) {
	room, ok := b.keys.roomOfChannel(channel)
	if !ok {
		return
	}
	if h := b.opt.DropDelivery; h != nil && h(room, payload) {
		return
	}
	f := b.flowOf(room)
	if f == nil {
		b.hand(room, payload) // not (or no longer) subscribed: no local member keeps an order
		return
	}
	f.mu.Lock()
	f.queue = append(f.queue, flowItem{payload: payload})
	if !f.busy {
		b.run(room, f)
	}
	f.mu.Unlock()
}

// hand gives one event to the node.
func (b *Broker) hand(room, payload string) {
	if err := b.recv.Receive(room, payload); err != nil {
		b.dropped(room, payload, err)
	}
}

// run works through the queue until it is empty or a step needs Redis.
// f.mu is held and f is not busy.
func (b *Broker) run(room string, f *roomFlow) {
	for len(f.queue) > 0 {
		it := f.queue[0]
		switch {
		case it.payload != "":
			if from, to, gap := b.step(room, f, it.payload); gap {
				// The event stays at the head: it goes out after the fill.
				// (Closing: nothing goes out any more.)
				f.busy = true
				b.spawn(func() { b.fill(room, f, from, to) })
				return
			}
			if f.waiting.Load() > 0 {
				b.placeJoin(room, f, it.payload) // (at the head still: a Sync goes right after it)
			}
		case it.sync != nil:
			if it.sync(f.pos) {
				f.queue = f.queue[1:]
				f.busy = true
				return
			}
		case it.check != nil:
			f.queue = f.queue[1:]
			f.busy = true
			b.spawn(func() { b.checkpoint(room, f, it.check) })
			return
		}
		f.queue[0] = flowItem{}
		f.queue = f.queue[1:]
	}
	f.queue = nil
}

// resume ends a step that read Redis and goes on with the queue.
func (b *Broker) resume(room string, f *roomFlow) {
	f.busy = false
	b.run(room, f)
}

// step delivers one event unless it is a duplicate, or reports the hole in
// front of it. f.mu is held.
func (b *Broker) step(room string, f *roomFlow, payload string) (from, to uint64, gap bool) {
	pos, stored := storedPosition(payload)
	if !stored {
		b.hand(room, payload)
		return 0, 0, false
	}
	switch {
	case pos.Epoch != f.pos.Epoch:
		if f.pos.Epoch != "" || f.pos.Offset > 0 {
			// A new life of the history (the old one was lost): the numbers
			// restart; members cannot rely on their offsets any more.
			b.stats.epochChanges.Add(1)
			b.recv.Resync(room, "epoch")
		}
		// (Otherwise the room's first stored messages.)
		f.pos = broker.Position{Epoch: pos.Epoch}
		if pos.Offset > 1 {
			return 1, pos.Offset - 1, true
		}
	case pos.Offset <= f.pos.Offset:
		b.stats.duplicates.Add(1)
		return 0, 0, false
	case pos.Offset > f.pos.Offset+1:
		return f.pos.Offset + 1, pos.Offset - 1, true
	}
	f.pos.Offset = pos.Offset
	b.hand(room, payload)
	return 0, 0, false
}

// fill reads the missing offsets from..to from the history and delivers them
// in order; if they are gone, the members are told to resync.
func (b *Broker) fill(room string, f *roomFlow, from, to uint64) {
	ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
	es, err := b.readRange(ctx, room, from, to)
	cancel()
	if b.ctx.Err() != nil {
		return // closing: the flow stays busy, nothing is delivered, nobody is told
	}
	if err == nil {
		b.cmdSeen()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := uint64(0)
	if err == nil {
		// (Entries of another epoch: the history was lost and begun anew
		// since; what the flow misses is gone.)
		for _, e := range ofEpoch(es, f.pos.Epoch) {
			if e.offset == f.pos.Offset+1 {
				f.pos.Offset = e.offset
				b.hand(room, e.payload)
				n++
			}
		}
	}
	if f.pos.Offset < to {
		// Gone (trimmed, expired) or unreadable: say so, and go on after it.
		b.stats.gapsUnfilled.Add(1)
		b.log.Warn("messages lost on the way could not be read back from the history; members told to resync",
			"room", room, "from", f.pos.Offset+1, "to", to, "err", err)
		b.recv.Resync(room, "gap")
		f.pos.Offset = to
	} else {
		b.stats.gapsFilled.Add(1)
		b.stats.filled.Add(int64(n))
	}
	b.resume(room, f)
}

// checkpoint reads the room's position in Redis after a (re)subscription:
// the first time it is the flow's starting point (everything at or below it
// was published before the node listened, and joiners get it from the
// history); later, whatever was stored while the node was not listening is
// filled, and a new epoch means a resync. then runs afterwards.
func (b *Broker) checkpoint(room string, f *roomFlow, then func()) {
	ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
	pos, err := b.readMeta(ctx, room)
	cancel()
	if b.ctx.Err() != nil {
		return // closing (Close answers the subscriptions waiting for this)
	}
	if err == nil {
		b.cmdSeen() // before a resync: the members' re-joins must find the node ready
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer then()
	switch {
	case err != nil:
		// Unreadable now; the next reconnection checks again. Until then
		// gaps are still noticed on the next stored event.
		if !f.based {
			f.pos, f.based = pos, true
		}
	case !f.based:
		f.pos, f.based = pos, true
	case pos.Epoch != f.pos.Epoch:
		if f.pos.Epoch != "" || f.pos.Offset > 0 {
			b.stats.epochChanges.Add(1)
			b.recv.Resync(room, "epoch")
		}
		f.pos = pos
	case pos.Offset > f.pos.Offset:
		f.busy = true
		from, to := f.pos.Offset+1, pos.Offset
		b.spawn(func() { b.fill(room, f, from, to) })
		return
	}
	b.resume(room, f)
}

// Sync implements broker.Broker.
func (b *Broker) Sync(room string, q broker.HistoryQuery, fn func(broker.HistoryResult, error)) {
	f := b.flowOf(room)
	if f == nil {
		fn(broker.HistoryResult{}, unavailable("room not subscribed", nil))
		return
	}
	f.mu.Lock()
	f.queue = append(f.queue, flowItem{sync: b.barrier(room, f, q, fn)})
	if !f.busy {
		b.run(room, f)
	}
	f.mu.Unlock()
}

// barrier is the flow step of a Sync: fn gets the history read at the
// step's place in the room's order (under f.mu), before any later event.
func (b *Broker) barrier(room string, f *roomFlow, q broker.HistoryQuery, fn func(broker.HistoryResult, error)) func(broker.Position) bool {
	return func(pos broker.Position) bool {
		// The room's epoch, even before its first message. When this node
		// knows none (its flow has delivered no stored message since the
		// room's history was last found empty), it is read from Redis and
		// named there if the room has none (nameEpoch). While the epoch
		// has no message, a join renews its TTL there, at most every half
		// history age per node (f.renewed), so that one round trip per
		// join is not the price of an empty room.
		ask := b.opt.HistorySize > 0 && (pos.Epoch == "" ||
			pos.Offset == 0 && time.Since(f.renewed) >= b.opt.HistoryAge/2)
		based := f.based
		if !ask && q.Since == nil && q.Limit == 0 {
			fn(broker.HistoryResult{Position: pos}, nil)
			return false
		}
		read := func() {
			ctx, cancel := context.WithTimeout(b.ctx, b.opt.OpTimeout)
			var err error
			lost := false // the epoch the flow held is gone
			if ask {
				var cur broker.Position
				if cur, err = b.nameEpoch(ctx, room); err == nil {
					switch {
					case !based:
						// Before the room's first checkpoint (the chat
						// always waits for it; another caller might not),
						// Redis' position is the starting point, as the
						// checkpoint's would be.
						pos = cur
					case cur.Epoch != pos.Epoch:
						// Offset 0: whatever the room holds of that epoch
						// was stored after this node found it empty (or
						// held another), so it is still on its way here
						// (or lost, and then filled as a gap): the flow
						// delivers it after fn.
						lost = pos.Epoch != ""
						pos = broker.Position{Epoch: cur.Epoch}
					}
				}
			}
			var res broker.HistoryResult
			if err == nil {
				res, err = b.answer(ctx, room, pos, q)
			}
			cancel()
			if err != nil {
				err = b.readFailed("history", err)
			} else {
				b.cmdSeen() // (before a resync for a lost epoch)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if err == nil && ask {
				if lost {
					// (Expired before its first message, or a Redis
					// restarted empty that no checkpoint noticed yet.)
					b.stats.epochChanges.Add(1)
					b.recv.Resync(room, "epoch")
				}
				// The joiner holds this epoch now: a stored event of another
				// one means a resync (step), and a first checkpoint still to
				// come fills what was stored before it rather than skip it.
				f.pos, f.based, f.renewed = pos, true, time.Now()
			}
			fn(res, err)
			b.resume(room, f)
		}
		if !b.spawn(read) {
			fn(broker.HistoryResult{}, errBrokerClosed)
			return false
		}
		return true
	}
}

// storedPosition reads the offset and epoch our store script appends to a
// stored payload: it ends with ,"offset":N,"epoch":"E"}. Other payloads are
// not stored messages.
func storedPosition(p string) (broker.Position, bool) {
	const mark = `,"offset":`
	i := strings.LastIndex(p, mark)
	if i < 0 || !strings.HasSuffix(p, `"}`) {
		return broker.Position{}, false
	}
	rest := p[i+len(mark) : len(p)-2] // N,"epoch":"E
	n, e, ok := strings.Cut(rest, `,"epoch":"`)
	if !ok {
		return broker.Position{}, false
	}
	off, err := strconv.ParseUint(n, 10, 64)
	if err != nil || off == 0 || strings.ContainsAny(e, `"\`) {
		return broker.Position{}, false
	}
	return broker.Position{Epoch: e, Offset: off}, true
}
