package bench

import "math/bits"

// layout is the global, deterministic map of members to rooms, URLs and processes. Every process
// computes it from the same flags, which is what lets a receiver in one process account for
// senders in another without talking to it.
//
// Member i is in room i % rooms at position i / rooms, so consecutive members land in different
// rooms and every process (which owns a contiguous block of members) holds members of every room.
// Within a room, position p connects to URL p % urls: a room's members alternate between nodes.
type layout struct {
	members int
	rooms   int
	urls    int
}

func (l layout) room(i int) int { return i % l.rooms }
func (l layout) pos(i int) int  { return i / l.rooms }
func (l layout) url(i int) int  { return l.pos(i) % l.urls }

// member is the global index of the member at position pos of room r.
func (l layout) member(r, pos int) int { return pos*l.rooms + r }

// roomSize is the number of members of room r.
func (l layout) roomSize(r int) int {
	if r >= l.members {
		return 0
	}
	return (l.members-r-1)/l.rooms + 1
}

// owned is the block [lo, hi) of members that process p of procs owns.
func (l layout) owned(p, procs int) (lo, hi int) {
	return l.members * p / procs, l.members * (p + 1) / procs
}

// schedule says when each member sends. Member i's k-th message is due at
// start + offset(i) + k*interval while that is inside the window and k < count; offsets spread the
// members evenly over one interval, so the total rate is smooth. Receivers use planned() to know
// how many messages each sender will send, which is what makes the end of a run detectable.
//
// Only members [0, members) send: every member, or the first positions of every room
// (Config.SendersPerRoom); the others plan nothing.
type schedule struct {
	interval int64 // ns; 0: nobody sends
	window   int64 // ns: warmup + duration
	count    int   // cap per member; 0: none
	members  int   // senders: members [0, members)
}

// offset is interval * i / members, without overflow for huge intervals.
func (s schedule) offset(i int) int64 {
	hi, lo := bits.Mul64(uint64(s.interval), uint64(i))
	q, _ := bits.Div64(hi, lo, uint64(s.members))
	return int64(q)
}

// planned is the number of messages member i sends.
func (s schedule) planned(i int) uint32 {
	if s.interval <= 0 || i >= s.members {
		return 0
	}
	off := s.offset(i)
	if off >= s.window {
		return 0
	}
	n := (s.window-off-1)/s.interval + 1
	if s.count > 0 && n > int64(s.count) {
		n = int64(s.count)
	}
	if n > 1<<31 {
		n = 1 << 31
	}
	return uint32(n)
}

// due is when member i's message k is due, relative to the start of the send phase.
func (s schedule) due(i int, k uint32) int64 {
	return s.offset(i) + int64(k)*s.interval
}
