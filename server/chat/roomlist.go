package chat

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/chatd/chatd/server/auth"
	"github.com/chatd/chatd/server/broker"
)

// The room list. On a node serving many rooms the list is the largest reply
// there is (thousands of rooms are megabytes), so it is read from the
// cluster at most once per RoomListRefresh per node and shared by every
// requester, as a snapshot: protocols page through it (RoomSnapshot.Page) or
// encode one reply per snapshot and share it (RoomSnapshot.Memo).

// A big list is expensive to read (50,400 rooms took 276–494 ms of a
// node's CPU per read from Redis): a snapshot of bigList rooms or more
// stays fresh for at least listCostFactor times as long as its read took,
// so that reading the list costs a node at most about 1/listCostFactor of a
// core, however many ask. (Smaller lists are cheap: a slow read of one is
// the machine's load, and RoomListRefresh alone applies.)
const (
	listCostFactor = 20
	bigList        = 1000
)

// RoomSnapshot is one read of the cluster's room list.
type RoomSnapshot struct {
	at   int64         // Node.now() when the broker read began
	took int64         // how long the read took (ns)
	byID []broker.Room // every room, sorted by id (for paging)
	all  []broker.Room // every room, oldest first (as the broker lists them)

	mu   sync.Mutex
	memo map[any][]byte
}

// roomLister keeps the current snapshot and builds the next one.
type roomLister struct {
	n       *Node
	mu      sync.Mutex
	snap    *RoomSnapshot
	waiters []func(*RoomSnapshot, error)
	running bool
	builds  atomic.Int64
}

// RoomList answers with the node's room list snapshot and the rooms the
// session may see (the rooms it may join: see Visible). Requests are
// bounded per connection: at most one per RoomListInterval over time, and
// up to burst at once (a protocol that pages asks for several pages in a
// row: RoomListBurst; one that does not: 1); more get ErrRoomListRate at
// once. done runs on the loop; the session is busy until then.
func (s *Session) RoomList(burst int, done func(*RoomSnapshot, Visible, *Error)) {
	n := s.node
	if !s.roomListAllowed(burst) {
		done(nil, Visible{}, ErrRoomListRate)
		return
	}
	vis := s.visible()
	answer := s.Await()
	n.list.get(func(snap *RoomSnapshot, err error) {
		answer(func() {
			if err != nil {
				done(nil, vis, errNoRoomList)
				return
			}
			done(snap, vis, nil)
		})
	})
}

// roomListAllowed applies the per-connection bound on room list requests:
// a GCRA (the virtual-scheduling form of a token bucket, burst requests at
// once, one per RoomListInterval over time) kept in one 32-bit timestamp,
// listAt: the theoretical arrival time of the next request, in ms of the
// node clock (0: none yet).
func (s *Session) roomListAllowed(burst int) bool {
	n := s.node
	now := n.ms()
	t := int32(n.cfg.RoomListInterval.Milliseconds())
	tat := s.listAt
	if tat == 0 || int32(now-tat) > 0 {
		tat = now
	}
	if int32(tat-now) > t*int32(max(burst, 1)-1) {
		return false
	}
	s.listAt = (tat + uint32(t)) | 1
	return true
}

// Visible is the set of rooms a session may see in a room list: the rooms
// it may join (a token's rooms claim, -guest-rooms for a guest), or every
// room.
type Visible struct {
	rooms auth.Rooms
}

// AllVisible is every room (the server API's view).
var AllVisible = Visible{auth.AllRooms}

// All reports whether every room is visible.
func (v Visible) All() bool { return v.rooms.All() }

// Allows reports whether room is visible.
func (v Visible) Allows(room string) bool { return v.rooms.Allows(room) }

// Key names the set, for sharing one encoding among the sessions that see
// the same rooms (RoomSnapshot.Memo).
func (v Visible) Key() string { return v.rooms.String() }

// visible returns the rooms the session may see in a room list: those it
// may join.
func (s *Session) visible() Visible { return Visible{s.allowedRooms()} }

// RoomList calls done (on any goroutine) with a snapshot no older than
// RoomListRefresh (the server API's room list).
func (n *Node) RoomList(done func(*RoomSnapshot, error)) { n.list.get(done) }

// RoomListBuilds returns how many snapshots the node has read.
func (n *Node) RoomListBuilds() int64 { return n.list.builds.Load() }

// get calls done with a snapshot no older than RoomListRefresh (or
// listCostFactor times its read's duration, if longer), at once when the
// current one is fresh, else once the build under way (started now if
// none is) ends. done may run on any goroutine.
func (l *roomLister) get(done func(*RoomSnapshot, error)) {
	now := l.n.now()
	l.mu.Lock()
	if s := l.snap; s != nil && now-s.at < s.freshFor(int64(l.n.cfg.RoomListRefresh)) {
		l.mu.Unlock()
		done(s, nil)
		return
	}
	l.waiters = append(l.waiters, done)
	start := !l.running
	l.running = true
	l.mu.Unlock()
	if start {
		l.build(now)
	}
}

// build reads the broker's list and answers every waiter with it.
func (l *roomLister) build(at int64) {
	l.n.broker.Rooms(func(rooms []broker.Room, err error) {
		var s *RoomSnapshot
		if err == nil {
			s = &RoomSnapshot{at: at, took: l.n.now() - at, all: rooms, byID: slices.Clone(rooms)}
			slices.SortFunc(s.byID, func(a, b broker.Room) int { return cmp.Compare(a.ID, b.ID) })
			l.builds.Add(1)
		}
		l.mu.Lock()
		ws := l.waiters
		l.waiters = nil
		l.running = false
		if s != nil {
			l.snap = s
		}
		l.mu.Unlock()
		for _, w := range ws {
			w(s, err)
		}
	})
}

// freshFor is how long the snapshot serves requests (ns): refresh, or for a
// big list that was slow to read, listCostFactor times its read.
func (s *RoomSnapshot) freshFor(refresh int64) int64 {
	if len(s.all) < bigList {
		return refresh
	}
	return max(refresh, listCostFactor*s.took)
}

// Len returns the number of rooms in the snapshot.
func (s *RoomSnapshot) Len() int { return len(s.all) }

// Top returns the max rooms of vis with the most members (the newest first
// among equals), listed oldest first (by creation time, then id): the rooms
// a list of at most max shows.
func (s *RoomSnapshot) Top(max int, vis Visible) []broker.Room {
	shown := s.all
	if vis.All() {
		shown = slices.Clone(shown)
	} else {
		shown = slices.DeleteFunc(slices.Clone(shown), func(r broker.Room) bool { return !vis.Allows(r.ID) })
	}
	if len(shown) > max {
		slices.SortStableFunc(shown, func(a, b broker.Room) int {
			return cmp.Or(cmp.Compare(b.Members, a.Members), cmp.Compare(b.CreatedAt, a.CreatedAt))
		})
		shown = shown[:max]
		slices.SortFunc(shown, func(a, b broker.Room) int {
			return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), cmp.Compare(a.ID, b.ID))
		})
	}
	return shown
}

// Page returns the rooms of vis after after (by id) whose ids start with
// prefix, at most limit of them and about maxBytes of JSON, and the after of
// the next page ("" on the last).
func (s *RoomSnapshot) Page(after, prefix string, limit, maxBytes int, vis Visible) (page []broker.Room, next string) {
	start := max(after, prefix)
	i := sort.Search(len(s.byID), func(i int) bool { return s.byID[i].ID >= start })
	if i < len(s.byID) && s.byID[i].ID == after {
		i++
	}
	page = []broker.Room{}
	size := 0
	for ; i < len(s.byID) && strings.HasPrefix(s.byID[i].ID, prefix); i++ {
		r := s.byID[i]
		if !vis.Allows(r.ID) {
			continue
		}
		size += len(r.ID) + len(r.Name) + len(r.CreatedAt) + 64
		if len(page) == limit || (size > maxBytes && len(page) > 0) {
			next = page[len(page)-1].ID
			break
		}
		page = append(page, r)
	}
	return page, next
}

// Memo returns the reply that build encodes for this snapshot, building it
// once per key: one encoding shared by every requester of the snapshot.
func (s *RoomSnapshot) Memo(key any, build func() []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.memo[key]; ok {
		return b
	}
	if s.memo == nil {
		s.memo = map[any][]byte{}
	}
	b := build()
	s.memo[key] = b
	return b
}
