package redis

import (
	"time"
)

// Subscriptions.
//
// A subscriber connection (a link, links.go) carries many rooms, and one
// goroutine reads it: Redis delivers a channel's messages on one connection
// in publish order, so one reader keeps each room's cluster-wide order
// without any sequencing of ours, and Receive is called from one goroutine
// per room as the broker contract asks. The node's Receiver only decodes the
// payload and encodes the client frame once per event; the fan-out itself
// runs on the event loops (one task per loop), so one reader per connection
// is far from the bottleneck (a few µs per event, versus the loops'
// per-member writes).
//
// Single Redis: one link carries every room (SUBSCRIBE). Redis Cluster: one
// link per master that owns rooms this node serves (SSUBSCRIBE: a room's
// messages go only through the shard that owns its slot), made when a room
// first needs it.
//
// Each room's subscription is reference-counted (one reference per local
// member, or join in flight). Commands are sent by subscriptionLoop, which
// batches the rooms that changed since its last round: per link, one
// SUBSCRIBE and one UNSUBSCRIBE of up to subscribeBatch channels, or in
// cluster mode one SSUBSCRIBE/SUNSUBSCRIBE per slot (Redis refuses shard
// channels of several slots in one command). A room whose last reference is
// dropped stays subscribed for SubscribeLinger.
//
// Confirmations: go-redis's Subscribe returns once the command is written.
// Subscribe's done runs only when Redis' "subscribe" reply for the room has
// been read by the link's reader, and only if no UNSUBSCRIBE for the room
// was sent after it (pending counts commands sent but not yet confirmed).
//
// Reconnection: any error on a link's connection ends it; the link opens a
// new one (a new generation) with backoff, marks its rooms unconfirmed and
// not sent, and subscriptionLoop re-subscribes every room that is wanted, in
// batches. A room records the generation it was sent on (generations are
// numbered across links), and confirmations of another generation are
// ignored. (go-redis would resubscribe by itself, but then a SUBSCRIBE
// written on a connection that died would be neither confirmed nor resent;
// owning the generation keeps the confirmation state exact.)
//
// Topology (cluster mode): when a room's slot changes master (slot
// migration, a replica promoted), reroute moves it to the new master's link:
// unsubscribed from the old (if it still answers), subscribed on the new,
// and, like after any re-subscription, its flow gets a checkpoint before
// deliveries go on, so that what was published meanwhile is filled from the
// history or the members are told to resync.

// subRoom is the subscription state of one room.
type subRoom struct {
	slot      int      // hash slot of the room's channel (cluster mode)
	link      *subLink // the link the room is routed to (nil: none yet)
	gen       uint64   // the generation of link the room was last sent on
	refs      int
	want      bool // referenced or lingering: should be subscribed
	sent      bool // the last command sent for it (this generation) was SUBSCRIBE
	pending   int  // commands sent and not yet confirmed
	confirmed bool // Redis confirmed the subscription (this generation)
	ready     bool // ... and the room's flow passed its checkpoint: Subscribe may answer at once
	waiters   []*subWaiter
	lingerGen uint64
	linger    *time.Timer // the last linger started (Close stops it)
}

type subWaiter struct {
	done  func(error)
	timer *time.Timer
}

// subscribeBatch bounds the channels of one SUBSCRIBE or UNSUBSCRIBE.
const subscribeBatch = 1024

// Subscribe implements broker.Broker.
func (b *Broker) Subscribe(room string, done func(error)) {
	if b.closed.Load() {
		done(errBrokerClosed)
		return
	}
	b.smu.Lock()
	if b.closed.Load() { // (again under smu: Close answers the waiters it finds under smu)
		b.smu.Unlock()
		done(errBrokerClosed)
		return
	}
	r := b.subs[room]
	if r == nil {
		r = &subRoom{slot: b.keys.roomSlot(room)}
		b.subs[room] = r
	}
	r.refs++
	r.lingerGen++ // cancels a pending linger
	r.want = true
	b.ensureFlowLocked(room)
	if r.ready {
		b.smu.Unlock()
		done(nil)
		return
	}
	if !b.Healthy() {
		b.releaseLocked(room, r)
		b.smu.Unlock()
		done(unavailable("redis unreachable", nil))
		return
	}
	w := &subWaiter{done: done}
	r.waiters = append(r.waiters, w)
	w.timer = time.AfterFunc(b.opt.OpTimeout, func() { b.subscribeTimedOut(room, r, w) })
	if !r.sent {
		b.markDirtyLocked(room)
	}
	b.smu.Unlock()
}

// Unsubscribe implements broker.Broker.
func (b *Broker) Unsubscribe(room string) {
	b.smu.Lock()
	if r := b.subs[room]; r != nil && r.refs > 0 {
		b.releaseLocked(room, r)
	}
	b.smu.Unlock()
}

// releaseLocked drops a reference; the last one starts the linger.
func (b *Broker) releaseLocked(room string, r *subRoom) {
	r.refs--
	if r.refs > 0 {
		return
	}
	r.lingerGen++
	gen := r.lingerGen
	if r.linger != nil {
		r.linger.Stop() // (lingerGen cancels it anyway; this frees it sooner)
	}
	r.linger = time.AfterFunc(b.opt.SubscribeLinger, func() {
		b.smu.Lock()
		if b.subs[room] == r && r.refs == 0 && r.lingerGen == gen {
			r.want = false
			b.markDirtyLocked(room)
		}
		b.smu.Unlock()
	})
}

// subscribeTimedOut fails a waiter whose confirmation did not come in time.
func (b *Broker) subscribeTimedOut(room string, r *subRoom, w *subWaiter) {
	b.smu.Lock()
	i := -1
	for j, x := range r.waiters {
		if x == w {
			i = j
			break
		}
	}
	if i < 0 { // confirmed meanwhile
		b.smu.Unlock()
		return
	}
	r.waiters = append(r.waiters[:i], r.waiters[i+1:]...)
	b.releaseLocked(room, r)
	b.smu.Unlock()
	w.done(unavailable("subscription not confirmed in time", nil))
}

func (b *Broker) markDirtyLocked(room string) {
	b.dirty[room] = struct{}{}
	select {
	case b.subSig <- struct{}{}:
	default:
	}
}

// linkWork is what one round of subscriptionLoop sends on one link.
type linkWork struct {
	gen        uint64
	sub, unsub map[int][]string // channels by slot (one group, -1, in single mode)
}

func (w *linkWork) add(m *map[int][]string, slot int, ch string) {
	if *m == nil {
		*m = map[int][]string{}
	}
	(*m)[slot] = append((*m)[slot], ch)
}

// subscriptionLoop sends SUBSCRIBE/UNSUBSCRIBE for the rooms that changed,
// many channels per command.
func (b *Broker) subscriptionLoop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.subSig:
		case <-b.ctx.Done():
			return
		}
		work := map[*subLink]*linkWork{}
		wk := func(l *subLink) *linkWork {
			w := work[l]
			if w == nil {
				w = &linkWork{gen: l.gen}
				work[l] = w
			}
			return w
		}
		b.smu.Lock()
		for room := range b.dirty {
			delete(b.dirty, room)
			r := b.subs[room]
			if r == nil {
				continue
			}
			switch {
			case r.want && !r.sent:
				l := b.routeLocked(r)
				if l == nil || l.ps == nil {
					continue // no master, or connecting: marked dirty again when it is there
				}
				r.sent = true
				r.pending++
				r.gen = l.gen
				w := wk(l)
				w.add(&w.sub, r.slot, b.keys.channel(room))
			case !r.want && r.sent:
				r.sent = false
				r.confirmed, r.ready = false, false
				if l := r.link; l != nil && l.ps != nil && l.gen == r.gen {
					r.pending++
					w := wk(l)
					w.add(&w.unsub, r.slot, b.keys.channel(room))
				} else {
					r.pending = 0 // its connection is gone, and the subscription with it
				}
			case !r.want && !r.sent && r.pending == 0 && r.refs == 0 && len(r.waiters) == 0:
				b.forgetRoomLocked(room)
			}
		}
		b.smu.Unlock()
		for l, w := range work {
			if err := b.sendSubscriptions(l, w); err != nil && b.ctx.Err() == nil {
				// The connection is broken: start a new generation, which
				// re-sends everything that is wanted.
				b.endGeneration(l, w.gen)
			}
		}
	}
}

// sendSubscriptions writes one round's commands on l's connection of
// generation w.gen.
func (b *Broker) sendSubscriptions(l *subLink, w *linkWork) error {
	b.smu.Lock()
	ps := l.ps
	if l.gen != w.gen || ps == nil {
		b.smu.Unlock()
		return nil // that connection is gone; the next one re-sends everything
	}
	b.smu.Unlock()
	for _, chans := range w.sub {
		for len(chans) > 0 {
			n := min(len(chans), subscribeBatch)
			var err error
			if b.keys.cluster {
				err = ps.SSubscribe(b.ctx, chans[:n]...)
			} else {
				err = ps.Subscribe(b.ctx, chans[:n]...)
			}
			b.stats.subscribeCmds.Add(1)
			if err != nil {
				return err
			}
			chans = chans[n:]
		}
	}
	for _, chans := range w.unsub {
		for len(chans) > 0 {
			n := min(len(chans), subscribeBatch)
			var err error
			if b.keys.cluster {
				err = ps.SUnsubscribe(b.ctx, chans[:n]...)
			} else {
				err = ps.Unsubscribe(b.ctx, chans[:n]...)
			}
			b.stats.unsubscribeCmds.Add(1)
			if err != nil {
				return err
			}
			chans = chans[n:]
		}
	}
	return nil
}

// confirm handles a subscribe/unsubscribe reply read on generation gen.
func (b *Broker) confirm(gen uint64, kind, channel string) {
	room, ok := b.keys.roomOfChannel(channel)
	if !ok {
		return
	}
	isSub := kind == "subscribe" || kind == "ssubscribe"
	b.smu.Lock()
	r := b.subs[room]
	if r == nil || r.gen != gen {
		b.smu.Unlock()
		return
	}
	if !isSub && r.sent && r.pending == 0 {
		// Not ours: Redis dropped the shard channel because its slot left
		// this master. Subscribe again where the slot went.
		r.sent, r.confirmed, r.ready = false, false, false
		b.stats.movedRooms.Add(1)
		if r.want {
			b.markDirtyLocked(room)
		}
		b.smu.Unlock()
		b.refreshTopology()
		return
	}
	if r.pending > 0 {
		r.pending--
	}
	var f *roomFlow
	if r.pending == 0 {
		switch {
		case isSub && r.sent:
			r.confirmed = true
			f = b.ensureFlowLocked(room)
		case !isSub && !r.sent:
			r.confirmed, r.ready = false, false
			if !r.want && r.refs == 0 && len(r.waiters) == 0 {
				b.forgetRoomLocked(room)
			}
		}
	}
	b.smu.Unlock()
	if f == nil {
		return
	}
	// Every event from now on reaches the node; once the flow has its
	// checkpoint (where the room's history stands), joins may complete.
	f.mu.Lock()
	f.queue = append(f.queue, flowItem{check: func() { b.subscribed(room, r, gen) }})
	if !f.busy {
		b.run(room, f)
	}
	f.mu.Unlock()
}

// subscribed completes a room's subscription after its checkpoint: the
// waiting Subscribe calls are answered, if the subscription still stands.
func (b *Broker) subscribed(room string, r *subRoom, gen uint64) {
	b.smu.Lock()
	var ws []*subWaiter
	if b.subs[room] == r && r.gen == gen && r.confirmed && r.sent {
		r.ready = true
		ws = r.waiters
		r.waiters = nil
	}
	b.smu.Unlock()
	for _, w := range ws {
		w.timer.Stop()
		w.done(nil)
	}
}

// ensureFlowLocked returns room's flow, creating it (under smu).
func (b *Broker) ensureFlowLocked(room string) *roomFlow {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	f := b.flows[room]
	if f == nil {
		f = &roomFlow{}
		b.flows[room] = f
	}
	return f
}

// forgetRoomLocked drops a room's subscription state and flow (under smu):
// a later subscription starts from a new checkpoint.
func (b *Broker) forgetRoomLocked(room string) {
	if r := b.subs[room]; r != nil {
		b.detachLocked(r)
	}
	delete(b.subs, room)
	b.fmu.Lock()
	delete(b.flows, room)
	b.fmu.Unlock()
}

func (b *Broker) dropped(room, payload string, err error) {
	if n := b.stats.dropped.Add(1); n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th, ...
		if len(payload) > 200 {
			payload = payload[:200] + "..."
		}
		b.log.Warn("dropped a room event that is not a JSON object with a type", "room", room,
			"payload", payload, "err", err, "dropped", n)
	}
}
