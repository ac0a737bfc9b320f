package memory_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/memory"
)

// A user with three connections in a room stays one member, named by its
// first connection, until its third leaves.
func TestUserConnectionsCounted(t *testing.T) {
	b := memory.New(memory.Options{})
	var st broker.Membership
	rec := func(s broker.Membership, err error) {
		if err != nil {
			t.Fatal(err)
		}
		st = s
	}
	names := []string{"first", "second", "third"}
	for i, name := range names {
		b.Join(broker.Member{Room: "r", User: "u", Name: name}, "R", rec)
		if st.Count != 1 || st.Changed != (i == 0) {
			t.Fatalf("join %d: %+v", i, st)
		}
	}
	b.Members("r", 10, func(list []broker.Member, n int, _ error) {
		if n != 1 || len(list) != 1 || list[0].Name != "first" {
			t.Fatalf("members %v (%d)", list, n)
		}
	})
	for i := range names {
		b.Leave(broker.Member{Room: "r", User: "u"}, rec)
		if last := i == len(names)-1; st.Changed != last || (last && st.Count != 0) {
			t.Fatalf("leave %d: %+v", i, st)
		}
	}
	b.Rooms(func(rs []broker.Room, _ error) {
		if len(rs) != 0 {
			t.Fatalf("rooms left: %v", rs)
		}
	})
}

// A membership costs the broker at most 52 bytes of heap (rooms of 100,
// one connection per user; the user ids and names are the caller's): it is
// one of the structures a connection pays per extra room (issue 22). The
// map's slot is 32 bytes (two string headers); 100 members take 16 groups
// of 8 slots, whose array rounds up to the allocator's next size class:
// ~49 bytes a member. (With a 24-byte value, name and count, it was ~54.)
func TestMembershipHeap(t *testing.T) {
	const rooms, per = 100, 100
	users := make([]string, rooms*per)
	for i := range users {
		users[i] = fmt.Sprintf("user-%06d", i)
	}
	rids := make([]string, rooms)
	for i := range rids {
		rids[i] = fmt.Sprintf("room-%03d", i)
	}
	// The least of three tries: goroutines left by other tests may allocate meanwhile.
	per1 := 1 << 30
	for try := 0; try < 3; try++ {
		per1 = min(per1, heapPerMember(users, rids))
	}
	t.Logf("%d bytes of heap per membership", per1)
	if per1 > 52 {
		t.Fatalf("%d bytes of heap per membership, want <= 52", per1)
	}
}

// heapPerMember joins user i to room i%len(rids) on a new broker and returns
// the heap that holds per membership.
func heapPerMember(users, rids []string) int {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	b := memory.New(memory.Options{})
	for i, u := range users {
		r := rids[i%len(rids)]
		b.Join(broker.Member{Room: r, User: u, Name: u}, r, func(broker.Membership, error) {})
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(b)
	return int(ms.HeapAlloc-before) / len(users)
}
