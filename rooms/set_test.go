package rooms

import (
	"fmt"
	"testing"
	"unsafe"
)

// A Set keeps its rooms in the order joined, in an array of the least power
// of two that holds them (16 bytes a room), keeps the owner's stamps when it
// grows or shrinks, and holds nothing once empty.
func TestSetOrderAndCapacity(t *testing.T) {
	if n := unsafe.Sizeof(Ref{}); n != 16 {
		t.Fatalf("Ref is %d bytes, want 16", n)
	}
	if n := unsafe.Sizeof(Set{}); n != 8 {
		t.Fatalf("Set is %d bytes, want 8", n)
	}
	var s Set
	rs := make([]*Room, 9)
	for i := range rs {
		rs[i] = &Room{id: fmt.Sprint("r", i)}
		s.add(Ref{room: rs[i], idx: int32(i)})
		s.At(i).Stamp = uint16(100 + i)
		if s.Len() != i+1 || capFor(s.Len()) < s.Len() || capFor(s.Len()) >= 2*s.Len() && s.Len() > 1 {
			t.Fatalf("len %d, capacity %d", s.Len(), capFor(s.Len()))
		}
	}
	ids := func() string {
		out := ""
		for i := 0; i < s.Len(); i++ {
			r := s.At(i)
			out += fmt.Sprintf("%s:%d:%d ", r.room.id, r.idx, r.Stamp)
		}
		return out
	}
	if got := ids(); got != "r0:0:100 r1:1:101 r2:2:102 r3:3:103 r4:4:104 r5:5:105 r6:6:106 r7:7:107 r8:8:108 " {
		t.Fatalf("set %s", got)
	}
	if s.Index("r5") != 5 || s.Index("nope") != -1 || s.find(rs[3]) != s.At(3) {
		t.Fatal("lookups")
	}
	p := s.p
	s.remove(0) // 9 -> 8: the array shrinks from 16 to 8
	if s.p == p || s.Len() != 8 || s.Index("r0") != -1 {
		t.Fatal("the array did not shrink")
	}
	s.remove(3) // r4 goes, the order stays
	s.remove(6) // r8
	if got := ids(); got != "r1:1:101 r2:2:102 r3:3:103 r5:5:105 r6:6:106 r7:7:107 " {
		t.Fatalf("after removes: %s", got)
	}
	for s.Len() > 0 {
		s.remove(s.Len() - 1)
	}
	if s.p != nil || s.Len() != 0 || s.Index("r1") != -1 {
		t.Fatal("an empty set holds an array")
	}
}

// A set that is asked for a room it does not hold says so loudly: the
// room's index and the sets disagree, which must never be.
func TestSetFindMissing(t *testing.T) {
	var s Set
	s.add(Ref{room: &Room{id: "a"}})
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	s.find(&Room{id: "b"})
}
