package chat

import (
	"testing"
	"unsafe"

	"github.com/chatd/chatd/rooms"
	"github.com/chatd/chatd/server/broker"
)

func TestIDKeyDistinct(t *testing.T) {
	seen := map[uint64]string{}
	for _, id := range []string{"0", "a", "00", "0a", "a0", "z", "zz", "zzzzzzzzzzz", "00000000000", "ypk0gg3ew5", "dn4x45rr56"} {
		k, ok := idKey(id)
		if !ok || k&counted != 0 {
			t.Fatalf("%q: key %d ok %v", id, k, ok)
		}
		if prev, dup := seen[k]; dup {
			t.Fatalf("%q and %q share key %d", id, prev, k)
		}
		seen[k] = id
	}
	for _, id := range []string{"", "zzzzzzzzzzzz", "ABC", "a-b", "é"} {
		if _, ok := idKey(id); ok {
			t.Fatalf("%q accepted", id)
		}
	}
	for i := 0; i < 1000; i++ {
		if _, ok := idKey(NewID()); !ok {
			t.Fatal("a generated id has no key")
		}
	}
}

// Connections are found by number and, for our own user ids, by user id;
// other user ids get counted numbers, never reused.
func TestConnIndex(t *testing.T) {
	x := newConnIndex()
	a, b := &Session{who: &broker.Identity{User: NewID()}}, &Session{who: &broker.Identity{User: "token-user@example"}}
	b2 := &Session{who: &broker.Identity{User: "token-user@example"}} // the same user's second connection
	for _, s := range []*Session{a, b, b2} {
		x.add(s)
	}
	if k, _ := idKey(a.UserID()); a.id != k || x.get(a.id) != a || x.user(a.UserID()) != a {
		t.Fatalf("our user id: number %d", a.id)
	}
	if b.id&counted == 0 || b2.id == b.id || x.get(b.id) != b || x.get(b2.id) != b2 || x.user(b.UserID()) != nil {
		t.Fatalf("token user ids: numbers %d %d", b.id, b2.id)
	}
	if x.get(0) != nil || x.user("nobody") != nil || x.user("NOT-OURS!") != nil {
		t.Fatal("found what is not there")
	}
	x.remove(a)
	if x.get(a.id) != nil || x.user(a.UserID()) != nil || x.get(b.id) != b {
		t.Fatal("remove")
	}
	c := &Session{who: &broker.Identity{User: "token-user@example"}}
	x.add(c)
	if c.id == b.id || c.id == b2.id {
		t.Fatal("a number was reused")
	}
	// A session with an id already taken (impossible odds for random ids)
	// gets a counted number rather than replacing the other.
	d := &Session{who: &broker.Identity{User: b.UserID()}}
	e := &Session{who: &broker.Identity{User: "zzzz"}}
	f := &Session{who: &broker.Identity{User: "zzzz"}}
	x.add(d)
	x.add(e)
	x.add(f)
	if f.id == e.id || x.get(e.id) != e || x.get(f.id) != f {
		t.Fatal("a duplicate id replaced a session")
	}
}

// A membership (one connection in one room) costs the session 16 bytes, one
// Ref in its set, and the session keeps its set in 8: the size class a v2
// connection pays per extra room, beside its slot in the room's member list.
func TestMembershipSize(t *testing.T) {
	var s Session
	if n, p := unsafe.Sizeof(rooms.Ref{}), unsafe.Sizeof(s.rooms); n != 16 || p != 8 {
		t.Fatalf("a room costs the session %d bytes (its set %d), want 16 (8)", n, p)
	}
}
