package server

import (
	"sort"
	"sync"
	"time"
)

// MemoryBroker is the in-process broker of a single node: room state in
// maps, publishing a direct call to the node's fan-out. It is what chatd
// runs on when no Redis is configured.
type MemoryBroker struct {
	d     Deliverer
	mu    sync.Mutex
	rooms map[string]*memRoom
	now   func() time.Time
}

type memRoom struct {
	name      string
	createdAt time.Time
	members   map[string]struct{} // userIds
	pubMu     sync.Mutex          // one order of events for every member
}

// NewMemoryBroker returns an empty MemoryBroker.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{rooms: make(map[string]*memRoom), now: time.Now}
}

// Start implements Broker.
func (b *MemoryBroker) Start(d Deliverer) error { b.d = d; return nil }

// Subscribe implements Broker; in one process every room is always
// subscribed.
func (b *MemoryBroker) Subscribe(_ string, done func(error)) { done(nil) }

// Unsubscribe implements Broker.
func (b *MemoryBroker) Unsubscribe(string) {}

// Publish implements Broker. Delivery happens before it returns; the per-room
// lock gives every member the same order when several loops publish at once.
func (b *MemoryBroker) Publish(ev *Event, _ func(error)) {
	b.mu.Lock()
	r := b.rooms[ev.Room]
	b.mu.Unlock()
	if r == nil {
		// The room emptied (e.g. the last member's leave is being announced):
		// nobody is left to deliver to on this node.
		b.d.Deliver(ev.Room, ev.frame(), ev.ExcludeUserID)
		return
	}
	frame := ev.frame()
	r.pubMu.Lock()
	b.d.Deliver(ev.Room, frame, ev.ExcludeUserID)
	r.pubMu.Unlock()
}

// Join implements Broker.
func (b *MemoryBroker) Join(m Member, name string, done func(int, error)) {
	b.mu.Lock()
	r := b.rooms[m.RoomID]
	if r == nil {
		r = &memRoom{name: name, createdAt: b.now(), members: make(map[string]struct{})}
		b.rooms[m.RoomID] = r
	}
	r.members[m.UserID] = struct{}{}
	n := len(r.members)
	b.mu.Unlock()
	done(n, nil)
}

// Leave implements Broker. An empty room disappears.
func (b *MemoryBroker) Leave(m Member, done func(int, error)) {
	b.mu.Lock()
	n := 0
	if r := b.rooms[m.RoomID]; r != nil {
		delete(r.members, m.UserID)
		n = len(r.members)
		if n == 0 {
			delete(b.rooms, m.RoomID)
		}
	}
	b.mu.Unlock()
	done(n, nil)
}

// Rooms implements Broker.
func (b *MemoryBroker) Rooms(done func([]RoomInfo, error)) {
	b.mu.Lock()
	type entry struct {
		info RoomInfo
		at   time.Time
	}
	list := make([]entry, 0, len(b.rooms))
	for id, r := range b.rooms {
		list = append(list, entry{RoomInfo{RoomID: id, Name: r.name, MemberCount: len(r.members),
			CreatedAt: jsTime(r.createdAt)}, r.createdAt})
	}
	b.mu.Unlock()
	sort.Slice(list, func(i, j int) bool {
		if !list[i].at.Equal(list[j].at) {
			return list[i].at.Before(list[j].at)
		}
		return list[i].info.RoomID < list[j].info.RoomID
	})
	out := make([]RoomInfo, len(list))
	for i := range list {
		out[i] = list[i].info
	}
	done(out, nil)
}

// Healthy implements Broker.
func (b *MemoryBroker) Healthy() bool { return true }

// Close implements Broker.
func (b *MemoryBroker) Close() error { return nil }
