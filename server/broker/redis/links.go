package redis

import (
	"errors"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Subscriber connections (links).
//
// Single Redis: one link, for the life of the broker. Redis Cluster: one
// link per master address, made when the first room routed to that master
// needs it (routeLocked) and retired when its connection is lost while no
// room is routed to it any more (its master died and its rooms moved, or
// its slots moved away).

// subLink is one subscriber connection and its reader. Fields other than
// addr and client are guarded by Broker.smu.
type subLink struct {
	addr   string          // the master's address ("" in single mode)
	client *goredis.Client // opens the link's PubSub connections (single mode)
	ps     *goredis.PubSub // the connection of generation gen; nil while (re)connecting
	gen    uint64
	rooms  int // rooms routed to this link
}

// routeLocked routes r to the link of the master that owns its slot (the one
// link in single mode), starting that link if needed; nil when no master is
// known for the slot. Only for a room not sent on its link.
func (b *Broker) routeLocked(r *subRoom) *subLink {
	if !b.keys.cluster {
		if r.link == nil {
			r.link = b.singleLink
			r.link.rooms++
		}
		return r.link
	}
	addr := b.topo.owner(r.slot)
	if r.link != nil && r.link.addr == addr {
		return r.link
	}
	b.detachLocked(r)
	if addr == "" {
		return nil
	}
	l := b.links[addr]
	if l == nil {
		l = &subLink{addr: addr}
		b.links[addr] = l
		b.wg.Add(1)
		go b.linkLoop(l)
	}
	r.link = l
	l.rooms++
	return l
}

// detachLocked unroutes r.
func (b *Broker) detachLocked(r *subRoom) {
	if r.link != nil {
		r.link.rooms--
		r.link = nil
	}
}

// reroute (cluster mode, after a slot map load) moves every room whose slot
// is now served by another master: it is unsubscribed from the old link
// (best effort: that master may be gone) and marked for subscription on
// the new one. Rooms that had no master are tried again. Idle links to
// addresses that are no longer masters are closed.
func (b *Broker) reroute() {
	type unsub struct {
		l     *subLink
		gen   uint64
		slot  int
		chans []string
	}
	var olds []*unsub
	var idle []*subLink
	b.smu.Lock()
	for room, r := range b.subs {
		owner := b.topo.owner(r.slot)
		if r.link != nil && r.link.addr == owner {
			continue
		}
		if r.link == nil {
			if r.want && !r.sent {
				b.markDirtyLocked(room)
			}
			continue
		}
		if r.sent && r.link.ps != nil && r.link.gen == r.gen {
			olds = append(olds, &unsub{l: r.link, gen: r.gen, slot: r.slot, chans: []string{b.keys.channel(room)}})
		}
		// Confirmations still to come from the old link carry its
		// generation, not the room's from now on: ignored.
		r.sent, r.pending, r.confirmed, r.ready, r.gen = false, 0, false, false, 0
		b.detachLocked(r)
		b.stats.movedRooms.Add(1)
		if r.want {
			b.markDirtyLocked(room)
		} else if r.refs == 0 && len(r.waiters) == 0 {
			b.forgetRoomLocked(room)
		}
	}
	for addr, l := range b.links {
		if l.rooms == 0 && l.ps != nil && !b.topo.isMaster(addr) {
			idle = append(idle, l)
		}
	}
	gens := make([]uint64, len(idle))
	for i, l := range idle {
		gens[i] = l.gen
	}
	b.smu.Unlock()
	for _, u := range olds {
		// The old master no longer owns the slot, so nothing is published
		// to the room there any more (an SPUBLISH there is refused with
		// MOVED), and Redis drops the shard subscription itself when a slot
		// moves: if this unsubscribe fails, nothing arrives on the old link
		// all the same. A write error means that connection broke: a new
		// generation, as subscriptionLoop does.
		if err := b.sendSubscriptions(u.l, &linkWork{gen: u.gen, unsub: map[int][]string{u.slot: u.chans}}); err != nil &&
			b.ctx.Err() == nil {
			b.endGeneration(u.l, u.gen)
		}
	}
	for i, l := range idle {
		b.endGeneration(l, gens[i])
	}
}

// subscriptionsWaiting reports whether a wanted room is not subscribed yet
// (its master unknown, or its link connecting): the slot map is then
// reloaded more often, to find the replica that takes over.
func (b *Broker) subscriptionsWaiting() bool {
	b.smu.Lock()
	defer b.smu.Unlock()
	for _, r := range b.subs {
		if r.want && (r.link == nil || r.link.ps == nil) {
			return true
		}
	}
	return false
}

// retireLink forgets a cluster link that no room needs (under no lock);
// true if the link's loop is to end.
func (b *Broker) retireLink(l *subLink) bool {
	if !b.keys.cluster {
		return false
	}
	b.smu.Lock()
	defer b.smu.Unlock()
	if l.rooms > 0 {
		return false
	}
	if b.links[l.addr] == l {
		delete(b.links, l.addr)
	}
	return true
}

// linkDown records a lost or failed connection. In cluster mode that is
// the sign of a master failing over or restarting, maybe without its data
// (the rooms' state and this node's registrations in them): the slot map is
// reloaded, and the node's members re-registered once the link is back
// (livenessLoop; re-registering is idempotent). With one Redis the command
// side notices an outage by itself.
func (b *Broker) linkDown(l *subLink, err error) {
	if b.keys.cluster {
		b.refreshTopology()
		b.needReconcile.Store(true)
		return
	}
	b.setSub(false, err)
}

// linkUp records a working connection. With one Redis, a subscriber that
// works again means Redis is back: the liveness loop, maybe in the middle
// of a long backoff, is woken to bring the command side back at once.
func (b *Broker) linkUp(l *subLink) {
	if !b.keys.cluster {
		b.setSub(true, nil)
		if !b.cmdOK.Load() {
			b.wakeLiveness()
		}
	}
}

// endGeneration closes generation gen's connection of l (if still current),
// which makes the link's reader fail and open a new one.
func (b *Broker) endGeneration(l *subLink, gen uint64) {
	b.smu.Lock()
	ps := l.ps
	if l.gen != gen || ps == nil {
		b.smu.Unlock()
		return
	}
	l.ps = nil
	b.smu.Unlock()
	_ = ps.Close()
}

// newGeneration installs a fresh connection on l: nothing is subscribed on
// it yet, so every wanted room of the link is to be (re-)subscribed.
func (b *Broker) newGeneration(l *subLink, ps *goredis.PubSub) uint64 {
	b.smu.Lock()
	defer b.smu.Unlock()
	b.gen++
	l.gen = b.gen
	l.ps = ps
	for room, r := range b.subs {
		if r.link != l && (r.link != nil || !r.want) {
			continue
		}
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
	return l.gen
}

// linkLoop owns a link's connection: it (re)connects with backoff and reads
// confirmations and events.
func (b *Broker) linkLoop(l *subLink) {
	defer b.wg.Done()
	wait := minBackoff
	for b.ctx.Err() == nil {
		client := l.client
		if b.keys.cluster {
			client = b.shard(l.addr) // (made anew if it was dropped)
		}
		ps := client.Subscribe(b.ctx)
		// PING connects now (rather than at the first SUBSCRIBE) and its
		// reply tells the reader the connection works.
		if err := ps.Ping(b.ctx); err != nil {
			_ = ps.Close()
			if b.ctx.Err() != nil || b.retireLink(l) {
				return
			}
			b.linkDown(l, err)
			b.sleep(wait)
			wait = b.backoff(wait)
			continue
		}
		gen := b.newGeneration(l, ps)
		started := time.Now()
		err := b.receive(l, ps, gen)
		b.endGeneration(l, gen)
		_ = ps.Close()
		// A link without rooms is not needed any more (and this node has no
		// members on that master to re-register).
		if b.ctx.Err() != nil || b.retireLink(l) {
			return
		}
		b.linkDown(l, err)
		if time.Since(started) > b.opt.MaxBackoff {
			wait = minBackoff
		}
		b.sleep(wait)
		wait = b.backoff(wait)
	}
}

// receive reads one connection until it fails. Silence longer than the
// heartbeat interval is answered with a PING; a second silent interval
// with a PING outstanding means the connection is dead. An error reply
// (a shard channel refused with MOVED: the slot map is stale) ends the
// connection too: the next one re-subscribes everything where it belongs.
func (b *Broker) receive(l *subLink, ps *goredis.PubSub, gen uint64) error {
	pinged := true // the PING sent by linkLoop
	for {
		// go-redis reads and pings on a cancelled context all the same: a
		// connection made just as the broker closed (after Close closed
		// the ones it saw) ends here, within a heartbeat interval.
		if err := b.ctx.Err(); err != nil {
			return err
		}
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
			b.linkUp(l)
		case *goredis.Pong:
			b.linkUp(l)
		}
	}
}
