package broker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// A room's member set agrees with a plain map through random joins and
// leaves that take it past bigRoom and back: the same members, the list
// sorted while in use, the map in use only above bigRoom/2, and no room
// left holding an array much larger than its members.
func TestMemberSetAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ms MemberSet[*Identity]
	want := map[string]*Identity{}
	ids := make([]*Identity, 3*bigRoom)
	for i := range ids {
		u := fmt.Sprintf("u%05d", rng.IntN(1e5)) // a few repeat: a second identity of one user
		ids[i] = &Identity{User: u, Name: "name " + u}
	}
	check := func(step int) {
		t.Helper()
		if ms.Len() != len(want) {
			t.Fatalf("step %d: %d members, want %d", step, ms.Len(), len(want))
		}
		got := map[string]*Identity{}
		for id := range ms.All() {
			got[id.User] = id
		}
		for u, id := range want {
			if got[u] != id {
				t.Fatalf("step %d: member %s is %v, want %v", step, u, got[u], id)
			}
		}
		if ms.big != nil {
			if ms.list != nil || len(ms.big) < bigRoom/2 {
				t.Fatalf("step %d: a map of %d members (list %d)", step, len(ms.big), len(ms.list))
			}
			return
		}
		if len(ms.list) > bigRoom {
			t.Fatalf("step %d: a list of %d members", step, len(ms.list))
		}
		if !slices.IsSortedFunc(ms.list, func(a, b *Identity) int { return strings.Compare(a.User, b.User) }) {
			t.Fatalf("step %d: list not sorted", step)
		}
		if c := cap(ms.list); c > 16 && c > 4*len(ms.list) {
			t.Fatalf("step %d: %d members in an array of %d", step, len(ms.list), c)
		}
	}
	step := 0
	phase := func(joinOdds float64, steps int) {
		for range steps {
			step++
			id := ids[rng.IntN(len(ids))]
			if rng.Float64() < joinOdds {
				_, in := want[id.User]
				if ms.Add(id) == in {
					t.Fatalf("step %d: add(%s) = %v with the user in: %v", step, id.User, !in, in)
				}
				if !in {
					want[id.User] = id
				}
			} else {
				_, in := want[id.User]
				if ms.Remove(id.User) != in {
					t.Fatalf("step %d: remove(%s) = %v, want %v", step, id.User, !in, in)
				}
				delete(want, id.User)
			}
			check(step)
		}
	}
	phase(0.8, 4000) // grows past bigRoom (~2,450 members): the map
	if ms.big == nil {
		t.Fatalf("%d members and no map", ms.Len())
	}
	phase(0.5, 2000)  // churn around ~1,500 members
	phase(0.05, 6000) // back below bigRoom/2 (~150): the list again, shrinking
	if ms.big != nil {
		t.Fatalf("%d members in a map", ms.Len())
	}
	phase(0.1, 2000)      // churn in a small room
	for u := range want { // everyone leaves
		if !ms.Remove(u) {
			t.Fatalf("remove(%s) = false", u)
		}
		delete(want, u)
	}
	check(step + 1)
}

// All stops when the loop breaks (Members' limit).
func TestMemberSetAllStops(t *testing.T) {
	for _, size := range []int{10, bigRoom + 10} {
		var ms MemberSet[*Identity]
		for i := range size {
			ms.Add(&Identity{User: fmt.Sprint(i)})
		}
		n := 0
		for range ms.All() {
			if n++; n == 3 {
				break
			}
		}
		if n != 3 {
			t.Fatalf("%d members: the loop went on for %d members, want 3", size, n)
		}
	}
}

// counted is a member with a value beside its user id, as the Redis broker
// keeps them.
type counted struct {
	user string
	n    int
}

func (c counted) UserID() string { return c.user }

// Get finds what Set stored, in the list and in the map; Add does not
// replace; Clone shares no storage.
func TestMemberSetGetSetClone(t *testing.T) {
	for _, size := range []int{10, bigRoom + 10} {
		var ms MemberSet[counted]
		for i := range size {
			if !ms.Set(counted{fmt.Sprint(i), 1}) {
				t.Fatalf("%d members: Set of a new user said not added", size)
			}
		}
		if ms.Set(counted{"3", 2}) || ms.Add(counted{"3", 9}) {
			t.Fatalf("%d members: Set or Add of a member said added", size)
		}
		if m, ok := ms.Get("3"); !ok || m.n != 2 {
			t.Fatalf("%d members: Get(3) = %v, %v; want n 2", size, m, ok)
		}
		if _, ok := ms.Get("nobody"); ok {
			t.Fatalf("%d members: Get of a stranger found one", size)
		}
		c := ms.Clone()
		c.Set(counted{"3", 7})
		c.Remove("4")
		if m, _ := ms.Get("3"); m.n != 2 || ms.Len() != size || c.Len() != size-1 {
			t.Fatalf("%d members: the clone's changes reached the original (%v, %d, %d)", size, m, ms.Len(), c.Len())
		}
	}
}
