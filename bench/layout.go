package bench

import "math/bits"

// layout is the global, deterministic map of members to rooms, URLs and processes. Every process
// computes it from the same flags, which is what lets a receiver in one process account for
// senders in another without talking to it.
//
// A member is one connection. With protocol v2 a connection may be in perConn rooms
// (-rooms-per-client K); each of its rooms is a membership, numbered m = i*K + j for member i and
// its slot j < K. Membership m is in room m % rooms at position m / rooms. With K = 1 (v1, and the
// v2 default) this is member i in room i % rooms at position i / rooms: consecutive members land
// in different rooms, so every process (which owns a contiguous block of members) holds members
// of every room, and a member's K rooms are K consecutive room numbers (distinct while K <= rooms).
// Within a room, position p connects to URL p % urls (for K > 1: the position of slot 0), so a
// room's members alternate between nodes.
type layout struct {
	members int
	rooms   int
	urls    int
	perConn int // rooms per member; 0 means 1
}

// k is the number of rooms each member is in.
func (l layout) k() int { return max(1, l.perConn) }

func (l layout) room(i int) int { return l.roomOf(i, 0) }
func (l layout) pos(i int) int  { return l.posOf(i, 0) }
func (l layout) url(i int) int  { return l.pos(i) % l.urls }

// roomOf and posOf place member i's slot j.
func (l layout) roomOf(i, j int) int { return (i*l.k() + j) % l.rooms }
func (l layout) posOf(i, j int) int  { return (i*l.k() + j) / l.rooms }

// slotIn is the slot of room r among member i's rooms, if i is in r.
func (l layout) slotIn(i, r int) (int, bool) {
	j := ((r-i*l.k())%l.rooms + l.rooms) % l.rooms
	return j, j < l.k()
}

// member is the global index of the member at position pos of room r (with K > 1: see memberSlot).
func (l layout) member(r, pos int) int {
	i, _ := l.memberSlot(r, pos)
	return i
}

// memberSlot is the member at position pos of room r and the slot of r among its rooms.
func (l layout) memberSlot(r, pos int) (i, j int) {
	m := pos*l.rooms + r
	return m / l.k(), m % l.k()
}

// roomSize is the number of members of room r.
func (l layout) roomSize(r int) int {
	n := l.members * l.k()
	if r >= n {
		return 0
	}
	return (n-r-1)/l.rooms + 1
}

// owned is the block [lo, hi) of members that process p of procs owns.
func (l layout) owned(p, procs int) (lo, hi int) {
	return l.members * p / procs, l.members * (p + 1) / procs
}

// A member with K rooms publishes its messages round-robin over them: its message seq goes to
// slot seq % K, as that room's message number seq / K from this sender. Receivers account per
// room and sender by that number, exactly as with one room.

// streamCount is how many of a member's first n messages go to its slot j.
func streamCount(n uint32, j, k int) uint32 {
	if n <= uint32(j) {
		return 0
	}
	return (n-1-uint32(j))/uint32(k) + 1
}

// lastInStream reports whether message seq of a member that plans `planned` messages is the last
// one it sends to that room: the receivers' drain waits for it.
func lastInStream(seq, planned uint32, k int) bool {
	return uint64(seq)+uint64(k) >= uint64(planned)
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

// span is when the last message of any sender is due, relative to the start of the send phase.
func (s schedule) span() int64 {
	var last int64
	for i := 0; i < s.members; i++ {
		if n := s.planned(i); n > 0 {
			last = max(last, s.due(i, n-1))
		}
	}
	return last
}

// due is when member i's message k is due, relative to the start of the send phase.
func (s schedule) due(i int, k uint32) int64 {
	return s.offset(i) + int64(k)*s.interval
}
