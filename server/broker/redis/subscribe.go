package redis

import (
	"errors"
	"net"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Subscriptions.
//
// One PubSub connection carries every room of the node, and one goroutine
// (subscribeLoop) reads it: Redis delivers a channel's messages on one
// connection in publish order, so one reader keeps each room's cluster-wide
// order without any sequencing of ours, and Receive is called from one
// goroutine as the broker contract asks. The node's Receiver only decodes
// the payload and encodes the client frame once per event; the fan-out
// itself runs on the event loops (one task per loop), so one
// goroutine is far from the bottleneck (a few µs per event, versus the
// loops' per-member writes). Sharding by room over several connections
// would add ordering and resubscription bookkeeping for no gain at the
// target load, and a single subscriber is what DESIGN §2 calls for.
//
// Each room's subscription is reference-counted (one reference per local
// member, or join in flight). Commands are sent by a second goroutine
// (subscriptionLoop), which batches the rooms that changed since its last
// round into one SUBSCRIBE and one UNSUBSCRIBE. A room whose last reference
// is dropped stays subscribed for SubscribeLinger.
//
// Confirmations: go-redis's Subscribe returns once the command is written.
// Subscribe's done runs only when Redis' "subscribe" reply for the room has
// been read by subscribeLoop, and only if no UNSUBSCRIBE for the room was
// sent after it (pending counts commands sent but not yet confirmed).
//
// Reconnection: any error on the PubSub connection ends it; subscribeLoop
// opens a new one (a new generation) with backoff, marks every room
// unconfirmed and not sent, and subscriptionLoop re-subscribes every room
// that is wanted, in batches. Confirmations of an older generation are
// ignored. (go-redis would resubscribe by itself, but then a SUBSCRIBE
// written on a connection that died would be neither confirmed nor resent;
// owning the generation keeps the confirmation state exact.)

// subRoom is the subscription state of one room.
type subRoom struct {
	refs      int
	want      bool // referenced or lingering: should be subscribed
	sent      bool // the last command sent for it (this generation) was SUBSCRIBE
	pending   int  // commands sent and not yet confirmed
	confirmed bool // Redis confirmed the subscription (this generation)
	ready     bool // ... and the room's flow passed its checkpoint: Subscribe may answer at once
	waiters   []*subWaiter
	lingerGen uint64
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
	r := b.subs[room]
	if r == nil {
		r = &subRoom{}
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
	time.AfterFunc(b.opt.SubscribeLinger, func() {
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
		b.smu.Lock()
		ps, gen := b.ps, b.gen
		if ps == nil {
			b.smu.Unlock() // a new generation marks every wanted room dirty
			continue
		}
		var sub, unsub []string
		for room := range b.dirty {
			delete(b.dirty, room)
			r := b.subs[room]
			if r == nil {
				continue
			}
			switch {
			case r.want && !r.sent:
				r.sent = true
				r.pending++
				sub = append(sub, roomChannel(room))
			case !r.want && r.sent:
				r.sent = false
				r.confirmed, r.ready = false, false
				r.pending++
				unsub = append(unsub, roomChannel(room))
			case !r.want && !r.sent && r.pending == 0 && r.refs == 0 && len(r.waiters) == 0:
				b.forgetRoomLocked(room)
			}
		}
		b.smu.Unlock()
		var err error
		for len(sub) > 0 && err == nil {
			n := min(len(sub), subscribeBatch)
			err = ps.Subscribe(b.ctx, sub[:n]...)
			b.stats.subscribeCmds.Add(1)
			sub = sub[n:]
		}
		for len(unsub) > 0 && err == nil {
			n := min(len(unsub), subscribeBatch)
			err = ps.Unsubscribe(b.ctx, unsub[:n]...)
			b.stats.unsubscribeCmds.Add(1)
			unsub = unsub[n:]
		}
		if err != nil && b.ctx.Err() == nil {
			// The connection is broken: start a new generation, which
			// re-sends everything that is wanted.
			b.endGeneration(gen)
		}
	}
}

// endGeneration closes generation gen's connection (if still current), which
// makes subscribeLoop's read fail and open a new one.
func (b *Broker) endGeneration(gen uint64) {
	b.smu.Lock()
	ps := b.ps
	if b.gen != gen || ps == nil {
		b.smu.Unlock()
		return
	}
	b.ps = nil
	b.smu.Unlock()
	_ = ps.Close()
}

// newGeneration installs a fresh connection: nothing is subscribed on it
// yet, so every wanted room is to be (re-)subscribed.
func (b *Broker) newGeneration(ps *goredis.PubSub) uint64 {
	b.smu.Lock()
	defer b.smu.Unlock()
	b.gen++
	b.ps = ps
	for room, r := range b.subs {
		r.sent, r.pending, r.confirmed, r.ready = false, 0, false, false
		if r.want {
			b.dirty[room] = struct{}{}
		} else if r.refs == 0 && len(r.waiters) == 0 {
			b.forgetRoomLocked(room)
		}
	}
	select {
	case b.subSig <- struct{}{}:
	default:
	}
	return b.gen
}

// subscribeLoop owns the PubSub connection: it (re)connects with backoff and
// reads confirmations and events.
func (b *Broker) subscribeLoop() {
	defer b.wg.Done()
	wait := minBackoff
	for b.ctx.Err() == nil {
		ps := b.client.Subscribe(b.ctx)
		// PING connects now (rather than at the first SUBSCRIBE) and its
		// reply tells the reader the connection works.
		if err := ps.Ping(b.ctx); err != nil {
			_ = ps.Close()
			if b.ctx.Err() != nil {
				return
			}
			b.setSub(false, err)
			b.sleep(wait)
			wait = b.backoff(wait)
			continue
		}
		gen := b.newGeneration(ps)
		started := time.Now()
		err := b.receive(ps, gen)
		b.endGeneration(gen)
		_ = ps.Close()
		if b.ctx.Err() != nil {
			return
		}
		b.setSub(false, err)
		if time.Since(started) > b.opt.MaxBackoff {
			wait = minBackoff
		}
		b.sleep(wait)
		wait = b.backoff(wait)
	}
}

// receive reads one connection until it fails. Silence longer than the
// heartbeat interval is answered with a PING; a second silent interval
// with a PING outstanding means the connection is dead.
func (b *Broker) receive(ps *goredis.PubSub, gen uint64) error {
	pinged := true // the PING sent by subscribeLoop
	for {
		m, err := ps.ReceiveTimeout(b.ctx, b.opt.HeartbeatInterval)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err := ps.Ping(b.ctx); err != nil {
					return err
				}
				pinged = true
				continue
			}
			return err
		}
		pinged = false
		switch m := m.(type) {
		case *goredis.Message:
			b.stats.received.Add(1)
			b.deliver(m.Channel, m.Payload)
		case *goredis.Subscription:
			b.confirm(gen, m.Kind, m.Channel)
			b.setSub(true, nil)
		case *goredis.Pong:
			b.setSub(true, nil)
		}
	}
}

// confirm handles a subscribe/unsubscribe reply.
func (b *Broker) confirm(gen uint64, kind, channel string) {
	room, ok := strings.CutPrefix(channel, prefixRoomChannel)
	if !ok {
		return
	}
	b.smu.Lock()
	r := b.subs[room]
	if r == nil || b.gen != gen {
		b.smu.Unlock()
		return
	}
	if r.pending > 0 {
		r.pending--
	}
	var f *roomFlow
	if r.pending == 0 {
		switch {
		case kind == "subscribe" && r.sent:
			r.confirmed = true
			f = b.ensureFlowLocked(room)
		case kind == "unsubscribe" && !r.sent:
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
	if b.subs[room] == r && b.gen == gen && r.confirmed && r.sent {
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
