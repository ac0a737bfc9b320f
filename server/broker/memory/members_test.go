package memory_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/brokertest"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/chatd/chatd/server/internal/heaptest"
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

// A user's extra room costs the broker at most 16 bytes of heap, and a user
// in one room no more than that either (rooms of 100, one connection per
// user; the identities are the caller's, one per connection, as the chat
// node passes them): it is one of the structures a connection pays per
// extra room (issue 22). A room keeps a pointer to each member's identity
// in a sorted slice (members.go): 8 bytes, 10.24 with the slice's spare
// capacity at 100 members (128 slots), plus the rooms' own cost. With a
// map of user id to name per room it was 52 per extra room and 47 per user
// in one room; records per user, pointed to from the rooms' maps, measured
// 26 per extra room but 113 per user in one room (not taken, see
// BENCHMARKS.md section 15).
func TestMembershipHeap(t *testing.T) {
	if !heaptest.Alone(t) {
		return
	}
	const users, perRoom = 10000, 100
	ids := brokertest.Identities(users)
	// The least of three tries, alone in the process (heaptest).
	one, four := 1<<30, 1<<30
	for try := 0; try < 3; try++ {
		one = min(one, heapOf(ids, 1, perRoom, true))
		four = min(four, heapOf(ids, 4, perRoom, true))
	}
	extra := (four - one) / (3 * users)
	t.Logf("%d bytes of heap per user in one room, %d per extra room", one/users, extra)
	if extra > 16 || one/users > 16 {
		t.Fatalf("%d bytes of heap per user in one room and %d per extra room, want <= 16 each", one/users, extra)
	}
	// A caller that passes no identity costs the broker one of its own per
	// membership (32 bytes more): still under the map's 52.
	one, four = 1<<30, 1<<30
	for try := 0; try < 3; try++ {
		one = min(one, heapOf(ids, 1, perRoom, false))
		four = min(four, heapOf(ids, 4, perRoom, false))
	}
	extra = (four - one) / (3 * users)
	t.Logf("without Member.ID: %d bytes of heap per user in one room, %d per extra room", one/users, extra)
	if extra > 48 {
		t.Fatalf("without Member.ID: %d bytes of heap per extra room, want <= 48", extra)
	}
}

// heapOf joins each user to k rooms of perRoom members on a new broker and
// returns the heap that holds; withID: the members carry their identity.
func heapOf(ids []*broker.Identity, k, perRoom int, withID bool) int {
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
	for i, id := range ids {
		for j := 0; j < k; j++ {
			r := rids[(i*k+j)%rooms]
			m := broker.Member{Room: r, User: id.User, Name: id.Name}
			if withID {
				m.ID = id
			}
			b.Join(m, r, func(broker.Membership, error) {})
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(b)
	runtime.KeepAlive(rids)
	return int(ms.HeapAlloc - before)
}
