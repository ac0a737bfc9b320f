// Package memory is the in-process broker of a single node: room state in
// maps, publishing a direct call to the node's delivery. It is what chatd
// runs on when no Redis is configured.
package memory

import (
	"cmp"
	"container/list"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/internal/isotime"
	"github.com/chatd/chatd/server/sink"
)

// Broker implements broker.Broker within one process.
type Broker struct {
	opt   Options
	r     broker.Receiver
	mu    sync.Mutex
	rooms map[string]*room
	now   func() time.Time

	// History (history.go), under mu.
	hist      map[string]*history
	lru       *list.List
	histBytes int
	histMsgs  int // messages in all rings (metrics.go)

	// lockRoom, set by tests only, takes a Publish's or Sync's room lock in
	// place of r.pubMu.Lock: the step between the room's lookup and its lock.
	lockRoom func(r *room)
}

// Options configures a Broker. Every zero field takes the default of the
// same name in server/broker/defaults.go.
type Options struct {
	// HistorySize is the stored messages kept per room; negative: no history
	// (nothing stored, recoveries fail). Zero: broker.DefaultHistorySize.
	HistorySize int
	// HistoryAge is how long a stored message is kept; a room's history
	// goes this long after its last stored message, or, while it has none,
	// after the last join (history.go). Zero: broker.DefaultHistoryAge.
	HistoryAge time.Duration
	// HistoryMaxBytes bounds the history of all rooms together (payloads,
	// plus a fixed cost per room with a history, messages or not). Zero:
	// broker.DefaultHistoryMaxBytes.
	HistoryMaxBytes int
	// HistoryRoomBytes bounds one room's stored messages: their payloads
	// plus 14 bytes each (what a Redis log entry adds); past it the oldest
	// go. Negative: no bound. Zero: broker.DefaultHistoryRoomBytes.
	HistoryRoomBytes int
	// Sink, if set, gets every stored message as it is stored, under the
	// broker's lock (so each room's in offset order): the message sink's
	// queue (package server/sink), which the node consumes.
	Sink *sink.Memory
}

type room struct {
	name      string
	createdAt string
	// members is the room's users (members.go), each named by its first
	// connection. A user with more than one connection in the room also
	// has an entry in more (made for the first such user): its connections
	// beyond the first.
	members broker.MemberSet[*broker.Identity]
	more    map[string]int32
	pubMu   sync.Mutex // one order of events for every member
	epoch   string     // the history's epoch the members were last told (history.go, named); under Broker.mu

	// uses counts the Publishes and Syncs that looked the record up (under
	// Broker.mu) and have not released it yet (release, after unlocking
	// pubMu). While there are any, the record stays in Broker.rooms even
	// if the room empties (vacant, set by Leave): a joiner that makes the
	// room again gets this record back, so that every Publish and Sync of
	// the room takes this one pubMu. Were the record replaced, a Publish
	// holding (or about to take) the old pubMu and a joiner's Sync holding
	// the new one would not exclude each other, and the joiner could miss
	// an event, stored after its history read and delivered before it
	// became a member, or get one twice.
	uses   atomic.Int32
	vacant atomic.Bool

	// read is the room's history read for a join's done (Membership.Sync),
	// made once per record (a closure per join would cost an allocation).
	read func(broker.HistoryQuery, func(broker.HistoryResult, error))
}

// New returns an empty Broker.
func New(o Options) *Broker {
	if o.HistorySize == 0 {
		o.HistorySize = broker.DefaultHistorySize
	}
	if o.HistoryAge <= 0 {
		o.HistoryAge = broker.DefaultHistoryAge
	}
	if o.HistoryMaxBytes <= 0 {
		o.HistoryMaxBytes = broker.DefaultHistoryMaxBytes
	}
	if o.HistoryRoomBytes == 0 {
		o.HistoryRoomBytes = broker.DefaultHistoryRoomBytes
	}
	return &Broker{opt: o, rooms: make(map[string]*room), now: time.Now, hist: make(map[string]*history),
		lru: list.New()}
}

// SinkQueue returns the message sink's queue (nil without Options.Sink).
func (b *Broker) SinkQueue() sink.Queue {
	if b.opt.Sink == nil {
		return nil
	}
	return b.opt.Sink
}

// Start implements broker.Broker.
func (b *Broker) Start(r broker.Receiver) error { b.r = r; return nil }

// Subscribe implements broker.Broker; in one process every room is always
// subscribed.
func (b *Broker) Subscribe(_ string, done func(error)) { done(nil) }

// Unsubscribe implements broker.Broker.
func (b *Broker) Unsubscribe(string) {}

// Publish implements broker.Broker. Delivery happens before it returns; the
// per-room lock gives every member the same order when several loops
// publish at once, and stores in that order. It excludes the room's Syncs:
// both take the lock of the room's one record (room.uses) or, for a room
// without one, the broker's lock.
func (b *Broker) Publish(ev *broker.Event, done func(uint64, error)) {
	b.mu.Lock()
	r := b.rooms[ev.Room]
	if r == nil {
		// The room emptied (e.g. the last member's leave is being announced,
		// or a server API message to a room without members): the order of
		// stores and Syncs is kept by the broker's lock instead.
		if ev.Store && b.opt.HistorySize > 0 {
			ev.Delivered, _ = b.store(ev)
		}
		b.r.Deliver(ev)
		b.mu.Unlock()
		if done != nil {
			done(ev.Delivered.Offset, nil)
		}
		return
	}
	r.uses.Add(1) // r stays the room's record until released
	b.mu.Unlock()
	b.lock(r)
	if ev.Store && b.opt.HistorySize > 0 {
		b.mu.Lock()
		ev.Delivered, _ = b.store(ev)
		b.mu.Unlock()
	}
	b.r.Deliver(ev)
	r.pubMu.Unlock()
	b.release(ev.Room, r)
	if done != nil {
		done(ev.Delivered.Offset, nil)
	}
}

// Sync implements broker.Broker: under the room's publish lock (or the
// broker's, for a room without members), nothing is delivered between the
// history read and fn. The record it locks stays the room's until released
// (room.uses), so no Publish takes another one meanwhile.
func (b *Broker) Sync(room string, q broker.HistoryQuery, fn func(broker.HistoryResult, error)) {
	b.mu.Lock()
	r := b.rooms[room]
	if r == nil {
		res := b.syncRead(room, q)
		fn(res, nil)
		b.mu.Unlock()
		return
	}
	r.uses.Add(1)
	b.mu.Unlock()
	defer b.release(room, r)
	b.lock(r)
	defer r.pubMu.Unlock()
	b.mu.Lock()
	res := b.syncRead(room, q)
	b.mu.Unlock()
	fn(res, nil)
}

// release ends a Publish's or Sync's use of r, the record of room, once it
// unlocked r.pubMu: the last use of a room that emptied meanwhile removes
// the record (Leave left it in place).
func (b *Broker) release(room string, r *room) {
	// Leave sets vacant, then reads uses (atomics: one order with this
	// Add): a Leave that still counted this use, and so left the record in
	// place, has set vacant by now.
	if r.uses.Add(-1) == 0 && r.vacant.Load() {
		b.mu.Lock()
		if b.rooms[room] == r && r.members.Len() == 0 && r.uses.Load() == 0 {
			delete(b.rooms, room)
		}
		b.mu.Unlock()
	}
}

// lock takes r.pubMu (in tests, through lockRoom).
func (b *Broker) lock(r *room) {
	if b.lockRoom != nil {
		b.lockRoom(r)
		return
	}
	r.pubMu.Lock()
}

// History implements broker.Broker.
func (b *Broker) History(room string, q broker.HistoryQuery, done func(broker.HistoryResult, error)) {
	b.mu.Lock()
	res := b.read(room, q)
	b.mu.Unlock()
	done(res, nil)
}

// Join implements broker.Broker. The change, its announcement and done are
// one step of the room's order of events (step): a later joiner, whose
// change comes after, is not yet a member anywhere when the announcement is
// fanned out, so a joiner never hears of a member its count already holds;
// and what done sets up (the node reserving the joiner's place) comes
// before any later event, so the joiner hears of every change after its
// own. done runs under the room's lock: it must not call the broker.
func (b *Broker) Join(m broker.Member, name string, done func(broker.Membership, error)) {
	var st broker.Membership
	var rec *room
	b.step(m.Room, true, func(r *room) {
		rec = r
		if r.read == nil {
			room := m.Room
			r.read = func(q broker.HistoryQuery, fn func(broker.HistoryResult, error)) {
				b.mu.Lock()
				res := b.syncRead(room, q)
				b.mu.Unlock()
				fn(res, nil)
			}
		}
		if r.members.Len() == 0 {
			// A new room, or one that emptied while a Publish, Sync or
			// membership change used its record (room.uses): made as new.
			r.name, r.createdAt, r.epoch = name, isotime.Format(b.now()), ""
			r.vacant.Store(false)
		}
		added := r.members.Add(m.Identity())
		if !added {
			if r.more == nil {
				r.more = make(map[string]int32)
			}
			r.more[m.User]++
		}
		st = broker.Membership{Count: r.members.Len(), Changed: added, Announced: added}
	}, func() *broker.Event {
		if !st.Changed {
			return nil
		}
		return b.r.Announce(true, m, st.Count)
	}, func() {
		// Under the room's lock: nothing is delivered until done returns.
		st.Sync = rec.read
		done(st, nil)
	})
}

// Leave implements broker.Broker, announcing as Join does. An empty room
// disappears with the last use of its record (release).
func (b *Broker) Leave(m broker.Member, done func(broker.Membership, error)) {
	var st broker.Membership
	b.step(m.Room, false, func(r *room) {
		if k := r.more[m.User]; k > 0 {
			if k == 1 {
				delete(r.more, m.User)
			} else {
				r.more[m.User] = k - 1
			}
		} else if r.members.Remove(m.User) {
			st.Changed, st.Announced = true, true
		}
		st.Count = r.members.Len()
		if st.Count == 0 {
			r.vacant.Store(true)
		}
	}, func() *broker.Event {
		if !st.Changed {
			return nil
		}
		return b.r.Announce(false, m, st.Count)
	}, nil)
	done(st, nil)
}

// step runs change on room's record (made if create and the room has none)
// under the broker's lock, then delivers what announce makes, then runs
// then (if not nil), all under the room's publish lock: one step in the
// room's order of events. Without a record and create false, nothing runs.
func (b *Broker) step(roomID string, create bool, change func(*room), announce func() *broker.Event, then func()) {
	b.mu.Lock()
	r := b.rooms[roomID]
	if r == nil {
		if !create {
			b.mu.Unlock()
			return
		}
		r = &room{}
		b.rooms[roomID] = r
	}
	r.uses.Add(1) // r stays the room's record until released
	b.mu.Unlock()
	b.lock(r)
	b.mu.Lock()
	change(r)
	b.mu.Unlock()
	if b.r != nil { // (not started: nobody to announce to)
		if ev := announce(); ev != nil {
			b.r.Deliver(ev)
		}
	}
	if then != nil {
		then()
	}
	r.pubMu.Unlock()
	b.release(roomID, r)
}

// Members implements broker.Broker.
func (b *Broker) Members(roomID string, limit int, done func([]broker.Member, int, error)) {
	b.mu.Lock()
	r := b.rooms[roomID]
	var list []broker.Member
	n := 0
	if r != nil && r.members.Len() > 0 { // an empty one is left for a Publish or Sync (Leave)
		n = r.members.Len()
		list = make([]broker.Member, 0, min(n, limit))
		for id := range r.members.All() {
			if len(list) == limit {
				break
			}
			list = append(list, broker.Member{Room: roomID, User: id.User, Name: id.Name})
		}
	}
	b.mu.Unlock()
	done(list, n, nil)
}

// Rooms implements broker.Broker.
func (b *Broker) Rooms(done func([]broker.Room, error)) {
	b.mu.Lock()
	list := make([]broker.Room, 0, len(b.rooms))
	for id, r := range b.rooms {
		if r.members.Len() == 0 {
			continue // left for a Publish or Sync (Leave)
		}
		list = append(list, broker.Room{ID: id, Name: r.name, Members: r.members.Len(), CreatedAt: r.createdAt})
	}
	b.mu.Unlock()
	// The order the Redis broker gives: creation times are milliseconds, so
	// rooms created in the same one are ordered by id.
	slices.SortFunc(list, func(a, b broker.Room) int {
		return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	done(list, nil)
}

// Healthy implements broker.Broker.
func (b *Broker) Healthy() bool { return true }

// Close implements broker.Broker.
func (b *Broker) Close() error { return nil }
