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

// A user's extra room costs the broker at most 54 bytes of heap (rooms of
// 100, one connection per user; the user ids and names are the caller's):
// it is one of the structures a connection pays per extra room (issue 22).
// A room's map holds a 32-byte slot per member (two string headers); 100
// members take 16 groups of 8 slots, whose array rounds up to the
// allocator's next size class, plus the rooms' own cost: ~52 bytes. (With a
// name and a count per member, 40-byte slots, it was ~57. Records per user,
// pointed to from 8-byte slots, measured 26 per extra room but 113 per user
// in one room instead of 47: not taken, see BENCHMARKS.md, issue 22.)
func TestMembershipHeap(t *testing.T) {
	const users, perRoom = 10000, 100
	ids := make([]string, users)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%06d", i)
	}
	// The least of three tries: goroutines left by other tests may allocate meanwhile.
	one, four := 1<<30, 1<<30
	for try := 0; try < 3; try++ {
		one = min(one, heapOf(ids, 1, perRoom))
		four = min(four, heapOf(ids, 4, perRoom))
	}
	extra := (four - one) / (3 * users)
	t.Logf("%d bytes of heap per user in one room, %d per extra room", one/users, extra)
	if extra > 54 {
		t.Fatalf("%d bytes of heap per extra room, want <= 54", extra)
	}
}

// heapOf joins each user to k rooms of perRoom members on a new broker and
// returns the heap that holds.
func heapOf(ids []string, k, perRoom int) int {
	rooms := len(ids) * k / perRoom
	rids := make([]string, rooms)
	for i := range rids {
		rids[i] = fmt.Sprintf("room-%05d", i)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	b := memory.New(memory.Options{})
	for i, u := range ids {
		for j := 0; j < k; j++ {
			r := rids[(i*k+j)%rooms]
			b.Join(broker.Member{Room: r, User: u, Name: u}, r, func(broker.Membership, error) {})
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(b)
	runtime.KeepAlive(rids)
	return int(ms.HeapAlloc - before)
}
