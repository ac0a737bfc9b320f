package rooms

import (
	"sync/atomic"

	"github.com/chatd/chatd/eventloop"
)

// Room is a room's local members, kept per event loop and per class (e.g.
// the protocol a member speaks, so that a fan-out addresses the members that
// take one encoding of an event).
type Room struct {
	id      string
	members int // local members over all loops and classes, and reserved places; guarded by the shard lock
	classes int
	lists   []memberList    // [loop*classes + class]
	auds    []classAudience // one per class: what Fanout is given
}

// memberList is a room's members of one class on one loop: the room's one
// member index. conns is read and written on that loop only (the fan-out
// reads it as is); a member's slot in it is kept in the member's Ref (its
// connection's Set), so that a leave swaps the last member into the
// leaver's slot in O(1). n is the length plus the places reserved on that
// loop (Registry.Reserve), for other goroutines.
type memberList struct {
	conns []*eventloop.Conn
	n     atomic.Int32
}

// ID returns the room id.
func (r *Room) ID() string { return r.id }

// Class returns the audience of the room's members of class k, for
// eventloop.Engine.Fanout.
func (r *Room) Class(k int) eventloop.Audience { return &r.auds[k] }

// HasClass reports whether the room may have local members of class k (on
// any loop). Any goroutine; approximate while members come and go.
func (r *Room) HasClass(k int) bool {
	for i := k; i < len(r.lists); i += r.classes {
		if r.lists[i].n.Load() > 0 {
			return true
		}
	}
	return false
}

// LocalCount returns the room's local members (and reserved places) on all loops (approximate
// while members join or leave concurrently).
func (r *Room) LocalCount() int {
	n := 0
	for i := range r.lists {
		n += int(r.lists[i].n.Load())
	}
	return n
}

func (r *Room) list(loop, class int) *memberList { return &r.lists[loop*r.classes+class] }

// classAudience is the eventloop.Audience of one class of a room.
type classAudience struct {
	r     *Room
	class int
}

// HasMembers implements eventloop.Audience.
func (a *classAudience) HasMembers(i int) bool { return a.r.list(i, a.class).n.Load() > 0 }

// Members implements eventloop.Audience; loop i only.
func (a *classAudience) Members(i int) []*eventloop.Conn { return a.r.list(i, a.class).conns }
