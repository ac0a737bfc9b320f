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
	eng    *eventloop.Engine
	loops  int
	seed   maphash.Seed
	shards [numShards]shard
	count  atomic.Int64 // rooms with local members
}

type shard struct {
	mu    sync.RWMutex
	rooms map[string]*Room
	_     [40]byte // one shard per cache line
}

// New returns an empty registry delivering through eng.
func New(eng *eventloop.Engine) *Registry {
	r := &Registry{eng: eng, loops: eng.NumLoops(), seed: maphash.MakeSeed()}
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

// Join adds c to room id, creating the room if needed, and returns it.
// It must run on c's event loop; c must not be in a room.
func (r *Registry) Join(id string, c *eventloop.Conn) *Room {
	s := r.shard(id)
	s.mu.Lock()
	room := s.rooms[id]
	if room == nil {
		room = &Room{id: id, loops: make([]loopMembers, r.loops)}
		s.rooms[id] = room
		r.count.Add(1)
	}
	room.members++
	s.mu.Unlock()

	lm := &room.loops[c.Loop()]
	c.SetGroupIndex(int32(len(lm.conns)))
	lm.conns = append(lm.conns, c)
	lm.n.Store(int32(len(lm.conns)))
	return room
}

// Leave removes c from room and frees the room once it has no local members.
// It must run on c's event loop. It reports whether c was a member.
func (r *Registry) Leave(room *Room, c *eventloop.Conn) bool {
	lm := &room.loops[c.Loop()]
	i := c.GroupIndex()
	if i < 0 || int(i) >= len(lm.conns) || lm.conns[i] != c {
		return false
	}
	last := lm.conns[len(lm.conns)-1]
	lm.conns[i] = last
	last.SetGroupIndex(i)
	lm.conns[len(lm.conns)-1] = nil
	lm.conns = lm.conns[:len(lm.conns)-1]
	if len(lm.conns) == 0 {
		lm.conns = nil // a big room that emptied gives its memory back
	}
	lm.n.Store(int32(len(lm.conns)))
	c.SetGroupIndex(-1)

	s := r.shard(room.id)
	s.mu.Lock()
	room.members--
	if room.members == 0 && s.rooms[room.id] == room {
		delete(s.rooms, room.id)
		r.count.Add(-1)
	}
	s.mu.Unlock()
	return true
}

// Fanout writes frame to every local member of room id except exclude, with
// one task per event loop that has members. Frames fanned out from one
// goroutine arrive in call order. It reports whether the room has local
// members.
func (r *Registry) Fanout(id string, frame []byte, exclude *eventloop.Conn) bool {
	room := r.Get(id)
	if room == nil {
		return false
	}
	r.eng.Fanout(frame, room, exclude)
	return true
}
