package chat

import (
	"math"
	"testing"
	"time"
	"unsafe"

	"github.com/chatd/chatd/server/auth"
)

// Authentication costs a connection without a token nothing: the session
// keeps two flags in what was padding, and only connections with a token
// have an entry in the node's registry. The session is 80 bytes since its
// user id and name moved to a record of their own (32 bytes, which the
// broker shares): the two allocations take 112 bytes of the allocator's
// size classes, as the 104-byte session with the strings inside did.
func TestIdentityCostsNoBytesWithoutToken(t *testing.T) {
	if n := unsafe.Sizeof(Session{}); n != 80 {
		t.Fatalf("Session is %d bytes, want 80", n)
	}
	r := newTokenRegistry()
	a, b, c := &Session{}, &Session{}, &Session{}
	later := int64(3e18)
	r.set(a, &auth.Claims{UserID: "u", Rooms: auth.AllRooms}, later)
	r.set(b, &auth.Claims{UserID: "u", Rooms: auth.AllRooms}, 100)
	r.set(c, &auth.Claims{UserID: "v", Rooms: auth.AllRooms}, 200)
	if r.len() != 3 || len(r.sessionsOf("u")) != 2 || len(r.sessionsOf("v")) != 1 {
		t.Fatalf("registry %d entries, u %d, v %d", r.len(), len(r.sessionsOf("u")), len(r.sessionsOf("v")))
	}
	// Expired in deadline order; a refresh puts an entry back in the heap.
	if got := r.expired(150); len(got) != 1 || got[0] != b {
		t.Fatalf("expired(150) = %v", got)
	}
	r.set(b, &auth.Claims{UserID: "u", Rooms: auth.AllRooms}, 300)
	if got := r.expired(250); len(got) != 1 || got[0] != c {
		t.Fatalf("expired(250) = %v", got)
	}
	if got := r.expired(350); len(got) != 1 || got[0] != b {
		t.Fatalf("expired(350) = %v", got)
	}
	r.remove(a)
	r.remove(b)
	r.remove(c)
	r.remove(c)
	if r.len() != 0 || len(r.byUser) != 0 || len(r.heap) != 0 {
		t.Fatalf("registry not empty: %d %d %d", r.len(), len(r.byUser), len(r.heap))
	}
}

// A deadline centuries ahead does not wrap into the past.
func TestDeadlineOf(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	if got := deadlineOf(now, 5*time.Second); got != now.Add(5*time.Second).UnixNano() {
		t.Fatalf("deadline %d", got)
	}
	for _, far := range []time.Time{time.Unix(1e13, 0), time.Unix(1<<62, 0)} {
		if got := deadlineOf(far, time.Second); got != math.MaxInt64 {
			t.Fatalf("deadline of %v = %d, want the cap", far, got)
		}
	}
}
