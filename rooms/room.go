package rooms

import (
	"sync/atomic"

	"github.com/chatd/chatd/eventloop"
)

// Room is a room's local members, kept per event loop. It implements
// eventloop.Audience.
type Room struct {
	id      string
	members int // local members over all loops; guarded by the shard lock
	loops   []loopMembers
}

// loopMembers are a room's members on one loop. conns is read and written on
// that loop only; n mirrors its length for other goroutines.
type loopMembers struct {
	conns []*eventloop.Conn
	n     atomic.Int32
}

// ID returns the room id.
func (r *Room) ID() string { return r.id }

// HasMembers implements eventloop.Audience.
func (r *Room) HasMembers(i int) bool { return r.loops[i].n.Load() > 0 }

// Members implements eventloop.Audience; loop i only.
func (r *Room) Members(i int) []*eventloop.Conn { return r.loops[i].conns }

// LocalCount returns the room's local members on all loops (approximate
// while members join or leave concurrently).
func (r *Room) LocalCount() int {
	n := 0
	for i := range r.loops {
		n += int(r.loops[i].n.Load())
	}
	return n
}
