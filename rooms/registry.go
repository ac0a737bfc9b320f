package rooms

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/chatd/chatd/eventloop"
)

// numShards spreads rooms over this many locks; a power of two.
const numShards = 64

// Registry maps room ids to the rooms that have local members.
type Registry struct {
	eng     *eventloop.Engine
	loops   int
	classes int
	seed    maphash.Seed
	shards  [numShards]shard
	count   atomic.Int64 // rooms with local members
	setOf   func(*eventloop.Conn) *Set
}

type shard struct {
	mu    sync.RWMutex
	rooms map[string]*Room
	_     [40]byte // one shard per cache line
}

// New returns an empty registry delivering through eng, whose rooms keep
// their members in classes (at least 1, at most 255) classes. setOf returns
// a connection's Set, kept by the caller in its per-connection state (on the
// connection's loop).
func New(eng *eventloop.Engine, classes int, setOf func(*eventloop.Conn) *Set) *Registry {
	if classes < 1 || classes > 255 {
		panic("rooms: classes must be between 1 and 255")
	}
	r := &Registry{eng: eng, loops: eng.NumLoops(), classes: classes, seed: maphash.MakeSeed(), setOf: setOf}
	for i := range r.shards {
		r.shards[i].rooms = make(map[string]*Room)
	}
	return r
}

func (r *Registry) shard(id string) *shard {
	return &r.shards[maphash.String(r.seed, id)&(numShards-1)]
}

// Get returns the room with local members named id, or nil. Any goroutine.
func (r *Registry) Get(id string) *Room {
	s := r.shard(id)
	s.mu.RLock()
	room := s.rooms[id]
	s.mu.RUnlock()
	return room
}

// Len returns the number of rooms with local members.
func (r *Registry) Len() int { return int(r.count.Load()) }

// Join adds c to room id as a member of class, appending the room to c's
// Set, creating the room if needed, and returns the room. It must run on c's
// event loop, and c must not be in the room already. A connection joins its
// rooms in one class.
func (r *Registry) Join(id string, c *eventloop.Conn, class int) *Room {
	s := r.shard(id)
	s.mu.Lock()
	room := r.roomLocked(s, id)
	room.members++
	s.mu.Unlock()

	l := room.list(c.Loop(), class)
	r.setOf(c).add(Ref{room: room, idx: int32(len(l.conns))})
	l.conns = append(l.conns, c)
	l.n.Add(1)
	return room
}

// roomLocked returns room id, creating it (under s.mu).
func (r *Registry) roomLocked(s *shard, id string) *Room {
	room := s.rooms[id]
	if room == nil {
		room = &Room{id: id, classes: r.classes, lists: make([]memberList, r.loops*r.classes),
			auds: make([]classAudience, r.classes)}
		for k := range room.auds {
			room.auds[k] = classAudience{r: room, class: k}
		}
		s.rooms[id] = room
		r.count.Add(1)
	}
	return room
}

// Reserve holds the place of a member of class that is about to join room
// id on loop: until Unreserve, the room exists and counts one more member
// of class on that loop (HasClass, HasMembers), so that a fan-out made
// meanwhile is posted to that loop, where it runs after the task that
// joins, if that task was posted first. (The chat answers a v2 join at a
// point of the room's delivery order, off the loop, and joins on the loop
// a moment later: what is delivered after that point must reach the
// joiner.) Any goroutine. Each Reserve takes one Unreserve, once the Join
// ran (or instead of it).
func (r *Registry) Reserve(id string, loop, class int) {
	s := r.shard(id)
	s.mu.Lock()
	room := r.roomLocked(s, id)
	room.members++
	room.list(loop, class).n.Add(1)
	s.mu.Unlock()
}

// Unreserve releases a place taken by Reserve (the room goes if that was
// all it had). Any goroutine.
func (r *Registry) Unreserve(id string, loop, class int) {
	s := r.shard(id)
	s.mu.Lock()
	if room := s.rooms[id]; room != nil {
		room.list(loop, class).n.Add(-1)
		if room.members--; room.members == 0 {
			delete(s.rooms, id)
			r.count.Add(-1)
		}
	}
	s.mu.Unlock()
}

// Leave removes c from the i-th room of its Set (Set.Index), of class (the
// class c joined it in), and frees the room once it has no local members. It
// must run on c's event loop.
func (r *Registry) Leave(c *eventloop.Conn, class, i int) {
	set := r.setOf(c)
	ref := set.At(i)
	room, idx := ref.room, ref.idx
	set.remove(i)
	l := room.list(c.Loop(), class)
	last := int32(len(l.conns) - 1)
	if idx != last {
		// Swap the last member into the leaver's slot, and tell it so.
		moved := l.conns[last]
		l.conns[idx] = moved
		r.setOf(moved).find(room).idx = idx
	}
	l.conns[last] = nil
	l.conns = l.conns[:last]
	switch {
	case last == 0:
		l.conns = nil // a big room that emptied gives its memory back
	case cap(l.conns) >= 64 && int(last) <= cap(l.conns)/4:
		// A room that shrank to a quarter gives half of its list back.
		l.conns = append(make([]*eventloop.Conn, 0, cap(l.conns)/2), l.conns...)
	}
	l.n.Add(-1)

	s := r.shard(room.id)
	s.mu.Lock()
	room.members--
	if room.members == 0 && s.rooms[room.id] == room {
		delete(s.rooms, room.id)
		r.count.Add(-1)
	}
	s.mu.Unlock()
}

// Fanout writes frame to every local member of class in room id except
// exclude, with one task per event loop that has such members. Frames fanned
// out from one goroutine arrive in call order. It reports whether the room
// has local members.
func (r *Registry) Fanout(id string, class int, frame []byte, exclude *eventloop.Conn) bool {
	room := r.Get(id)
	if room == nil {
		return false
	}
	r.eng.Fanout(frame, room.Class(class), exclude)
	return true
}
