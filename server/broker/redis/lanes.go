package redis

import (
	"context"
	"sync"
)

// Publishing lanes (cluster mode).
//
// Each master gets its own publisher goroutine and queue (a lane), so that a
// master that hangs (a host gone without a reset: every command waits for
// its timeout) delays only the rooms it serves, not the whole node's
// publishes. A room's events must keep their order, so while a room has
// events in a lane, its next ones go to the same lane, even if its slot has
// moved meanwhile (they are redirected there, in order, exec.go); a room
// with nothing in flight goes to its master's lane of the moment.
//
// When the slot map shows that a lane's address is no longer a master (it
// failed over), the pipeline the lane has in flight there is given up at
// once rather than after OpTimeout: its events are reported failed to their
// senders (they may have been stored: never sent again), and the rooms'
// next events go to the new master. (Cancelling the context does not end a
// read that is blocked already; closing that node's client does.)

// pubLane is one master's publisher queue.
type pubLane struct {
	q      chan pubItem
	mu     sync.Mutex
	cancel context.CancelFunc // of the batch in flight, if any
}

// sending records the cancel of the batch in flight (nil: none).
func (l *pubLane) sending(cancel context.CancelFunc) {
	l.mu.Lock()
	l.cancel = cancel
	l.mu.Unlock()
}

// abandonLanes gives up the batches in flight to addresses that are no
// longer masters.
func (b *Broker) abandonLanes() {
	var gone []string
	b.lnmu.Lock()
	for addr, l := range b.lanes {
		// ("": the lane of rooms whose master was unknown; its batch waits
		// in exec.go for a map that names one.)
		if addr == "" || b.topo.isMaster(addr) {
			continue
		}
		l.mu.Lock()
		if l.cancel != nil {
			l.cancel()
			gone = append(gone, addr)
		}
		l.mu.Unlock()
	}
	b.lnmu.Unlock()
	for _, addr := range gone {
		b.dropShard(addr)
	}
}

// laneRef is a room's lane while it has events in flight.
type laneRef struct {
	lane *pubLane
	n    int
}

// laneFor returns the queue of room's lane, counting one event in flight
// (released by laneSent); nil once the broker is closed.
func (b *Broker) laneFor(room string) chan pubItem {
	b.lnmu.Lock()
	defer b.lnmu.Unlock()
	if b.closed.Load() {
		return nil
	}
	ref := b.roomLanes[room]
	if ref == nil {
		addr := b.topo.owner(b.keys.roomSlot(room))
		l := b.lanes[addr]
		if l == nil {
			// ("" — no master known — is a lane too: its events wait in
			// exec.go for a slot map that names their master, in order,
			// and fail if none does within their rounds.)
			l = &pubLane{q: make(chan pubItem, b.opt.PublishQueue)}
			b.lanes[addr] = l
			b.wg.Add(1)
			go b.publishLoop(l.q, l)
		}
		ref = &laneRef{lane: l}
		b.roomLanes[room] = ref
	}
	ref.n++
	return ref.lane.q
}

// laneSent releases the events of batch from their rooms' lanes.
func (b *Broker) laneSent(batch []pubItem) {
	b.lnmu.Lock()
	for i := range batch {
		room := batch[i].room
		if ref := b.roomLanes[room]; ref != nil {
			if ref.n--; ref.n <= 0 {
				delete(b.roomLanes, room)
			}
		}
	}
	b.lnmu.Unlock()
}
