package rooms_test

import "testing"

// A place reserved for a member about to join on its loop makes the room
// exist and count a member of that class there, so that a fan-out made
// before the join is posted to that loop and, queued behind the join, reaches
// the joiner; Unreserve gives the place back and frees a room that has
// nothing else.
func TestReserve(t *testing.T) {
	f := newFixture(t, 1)
	c := f.conns[0]
	loop := c.Loop()
	f.reg.Reserve("r", loop, 1)
	room := f.reg.Get("r")
	if room == nil || f.reg.Len() != 1 || !room.HasClass(1) || room.HasClass(0) ||
		!room.Class(1).HasMembers(loop) || room.Class(1).HasMembers(1-loop) {
		t.Fatalf("reserved room %v (len %d)", room, f.reg.Len())
	}
	// The chat's order: the join task is posted, then a fan-out comes.
	joined := make(chan struct{})
	c.Exec(func() {
		f.reg.Join("r", c, 1)
		f.reg.Unreserve("r", loop, 1)
		close(joined)
	})
	f.eng.Fanout([]byte("\x81\x02hi"), room.Class(1), nil)
	if got := read(t, f.clients[0]); got != "hi" {
		t.Fatalf("the joiner got %q", got)
	}
	<-joined
	if f.reg.Get("r") != room || !room.HasClass(1) || room.LocalCount() != 1 {
		t.Fatalf("after join and unreserve: room %v, count %d", f.reg.Get("r"), room.LocalCount())
	}
	on(c, func() { f.reg.Leave(c, 1, 0) })
	if f.reg.Get("r") != nil || f.reg.Len() != 0 {
		t.Fatal("the room outlived its last member")
	}
	// A reservation given back without a join (the connection closed).
	f.reg.Reserve("q", loop, 0)
	f.reg.Unreserve("q", loop, 0)
	if f.reg.Get("q") != nil || f.reg.Len() != 0 {
		t.Fatal("an unused reservation kept its room")
	}
}
