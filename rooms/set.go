package rooms

import "unsafe"

// Ref is one of a connection's rooms: 16 bytes in the connection's Set.
type Ref struct {
	room *Room
	idx  int32 // the connection's slot in the room's list for its loop and class
	// Stamp is the owner's: two bytes it may use, in what would be padding
	// (the chat keeps a coarse clock of the member's last typing notice).
	Stamp uint16
	n     uint16 // in a Set's first ref only: the set's length
}

// Room returns the room.
func (r *Ref) Room() *Room { return r.room }

// Set is the rooms of one connection: one pointer (8 bytes in the owner's
// per-connection state) to an array of Refs, in the order joined, whose
// length the first Ref keeps. The array's capacity is the least power of two
// that holds the length, so a set costs 16 bytes per room, rounded up to a
// power of two, and nothing without rooms. The owner keeps the Set where
// the Registry's setOf finds it; the Registry alone changes it, on the
// connection's loop.
type Set struct{ p *Ref }

// Len returns the number of rooms.
func (s *Set) Len() int {
	if s.p == nil {
		return 0
	}
	return int(s.p.n)
}

// At returns the i-th room joined (of those still joined), 0 <= i < Len.
func (s *Set) At(i int) *Ref { return &s.refs()[i] }

// Index returns the position of room id in the set, or -1.
func (s *Set) Index(id string) int {
	refs := s.refs()
	for i := range refs {
		if refs[i].room.id == id {
			return i
		}
	}
	return -1
}

// refs returns the set's Refs (its length, not its capacity).
func (s *Set) refs() []Ref {
	if s.p == nil {
		return nil
	}
	return unsafe.Slice(s.p, capFor(int(s.p.n)))[:s.p.n]
}

// capFor is the array capacity that holds n refs.
func capFor(n int) int {
	c := 1
	for c < n {
		c <<= 1
	}
	return c
}

// add appends a ref (the array moves when the length passes a power of two).
func (s *Set) add(r Ref) {
	n := s.Len()
	if n == 1<<16-1 {
		panic("rooms: more than 65535 rooms on one connection")
	}
	if s.p == nil || capFor(n+1) != capFor(n) {
		a := make([]Ref, capFor(n+1))
		copy(a, s.refs())
		s.p = &a[0]
	}
	a := unsafe.Slice(s.p, capFor(n+1))
	a[n] = r
	a[n].n = 0
	a[0].n = uint16(n + 1)
}

// remove deletes the i-th ref, keeping the order of the others; the array
// shrinks when the length falls to a smaller power of two, and goes with the
// last room.
func (s *Set) remove(i int) {
	refs := s.refs()
	n := len(refs)
	if n == 1 {
		s.p = nil
		return
	}
	if capFor(n-1) != capFor(n) {
		a := make([]Ref, capFor(n-1))
		copy(a, refs[:i])
		copy(a[i:], refs[i+1:])
		a[0].n = uint16(n - 1)
		s.p = &a[0]
		return
	}
	copy(refs[i:], refs[i+1:])
	refs[n-1] = Ref{}
	refs[0].n = uint16(n - 1)
}

// find returns the ref of room, which the set must hold.
func (s *Set) find(room *Room) *Ref {
	refs := s.refs()
	for i := range refs {
		if refs[i].room == room {
			return &refs[i]
		}
	}
	panic("rooms: a member's set does not hold its room")
}
