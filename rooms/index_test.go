package rooms_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/chatd/chatd/eventloop"
)

// Connections in several rooms each, leaving in random order: after every
// step each member's slot in its set matches the room's list (the leave
// swapped the last member into the leaver's slot and told it), and a
// fan-out reaches exactly the members left.
func TestIndexUnderChurn(t *testing.T) {
	const n, roomsEach = 24, 3
	f := newFixture(t, n)
	ids := []string{"x", "y", "z", "w"}
	in := map[string]map[int]bool{}
	for _, id := range ids {
		in[id] = map[int]bool{}
	}
	for i := 0; i < n; i++ {
		for k := 0; k < roomsEach; k++ {
			id := ids[(i+k)%len(ids)]
			f.join(id, i)
			in[id][i] = true
		}
	}
	f.checkIndex(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for step := 0; step < n*roomsEach/2; step++ {
		id := ids[rng.IntN(len(ids))]
		var members []int
		for i := range in[id] {
			members = append(members, i)
		}
		if len(members) == 0 {
			continue
		}
		i := members[rng.IntN(len(members))]
		if !f.leave(f.reg.Get(id), i) {
			t.Fatalf("step %d: %d could not leave %s", step, i, id)
		}
		delete(in[id], i)
		f.checkIndex(t)
	}
	for _, id := range ids {
		if len(in[id]) == 0 {
			if f.reg.Get(id) != nil {
				t.Fatalf("room %s outlived its members", id)
			}
			continue
		}
		if got := f.reg.Get(id).LocalCount(); got != len(in[id]) {
			t.Fatalf("room %s counts %d members, want %d", id, got, len(in[id]))
		}
		f.reg.Fanout(id, 0, eventloop.TextFrame([]byte(id)), nil)
	}
	// Each connection reads one frame per room it is still in, in the order fanned out.
	for i := 0; i < n; i++ {
		for _, id := range ids {
			if in[id][i] {
				if got := read(t, f.clients[i]); got != id {
					t.Fatalf("connection %d got %q, want %q", i, got, id)
				}
			}
		}
	}
}

// A big room that shrank to a quarter of its list gives half of the list
// back; one that emptied gives it all back.
func TestListShrinks(t *testing.T) {
	const n = 160
	f := newFixture(t, n)
	for i := 0; i < n; i++ {
		f.join("big", i)
	}
	room := f.reg.Get("big")
	c0 := f.conns[0]
	var before int
	on(c0, func() { before = room.ListCap(c0.Loop(), 0) })
	var onLoop []int
	for i := range f.conns {
		if f.conns[i].Loop() == c0.Loop() {
			onLoop = append(onLoop, i)
		}
	}
	if before < 64 || len(onLoop) < 64 {
		t.Fatalf("list capacity %d for %d members on the loop: the test needs >= 64", before, len(onLoop))
	}
	// Leave until a quarter of the capacity is left on c0's loop.
	for _, i := range onLoop[1 : len(onLoop)-before/4+1] {
		f.leave(room, i)
	}
	var after, count int
	on(c0, func() { after, count = room.ListCap(c0.Loop(), 0), 0 })
	for _, i := range onLoop {
		for _, id := range f.rooms(i) {
			if id == "big" {
				count++
			}
		}
	}
	if count != before/4 || after != before/2 {
		t.Fatalf("%d members left on the loop; list capacity %d -> %d, want %d", count, before, after, before/2)
	}
	f.checkIndex(t)
	f.reg.Fanout("big", 0, eventloop.TextFrame([]byte(fmt.Sprint("still"))), nil)
	if got := read(t, f.clients[0]); got != "still" {
		t.Fatalf("member 0 got %q", got)
	}
}

// BenchmarkJoinLeave measures a member leaving a 1000-member room and
// joining it again (the swap into the leaver's slot, the set's array), on
// the members' loop, without the task hop.
func BenchmarkJoinLeave(b *testing.B) {
	const members = 1000
	f := newFixture(b, members)
	for i := 0; i < members; i++ {
		f.join("bench", i)
	}
	c0 := f.conns[0]
	var mine []*eventloop.Conn
	for _, c := range f.conns {
		if c.Loop() == c0.Loop() {
			mine = append(mine, c)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	on(c0, func() {
		for i := 0; i < b.N; i++ {
			c := mine[i%len(mine)]
			f.reg.Leave(c, 0, setOf(c).Index("bench"))
			f.reg.Join("bench", c, 0)
		}
	})
	b.StopTimer()
	f.checkIndex(b)
}
