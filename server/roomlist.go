package server

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/chatd/chatd/server/broker"
)

// The room list. On a node serving many rooms the list is the largest reply
// there is (thousands of rooms are megabytes), so it is built at most once
// per RoomListRefresh per node, from one broker read, and shared by every
// requester: the v1 reply is encoded once per build and the same frame is
// written to each requester. The v1 reply holds at most RoomListMax rooms,
// and never more bytes than half a connection's outbound limit, so asking
// for it cannot close the requester as a slow consumer.

// roomSnapshot is one build of the room list.
type roomSnapshot struct {
	at    int64         // Server.now() when the broker read began
	byID  []broker.Room // every room, sorted by id (for paging)
	frame []byte        // the v1 roomList reply
	shown int           // rooms in frame
}

// roomLister keeps the current snapshot and builds the next one.
type roomLister struct {
	srv     *Server
	mu      sync.Mutex
	snap    *roomSnapshot
	waiters []func(*roomSnapshot, error)
	running bool
	builds  atomic.Int64
	trimmed atomic.Bool // the size bound cut a list once (logged once)
}

// get calls done with a snapshot no older than RoomListRefresh, at once when
// the current one is fresh, else once the build under way (started now if
// none is) ends. done may run on any goroutine.
func (l *roomLister) get(done func(*roomSnapshot, error)) {
	now := l.srv.now()
	l.mu.Lock()
	if s := l.snap; s != nil && now-s.at < int64(l.srv.cfg.RoomListRefresh) {
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
	l.srv.broker.Rooms(func(rooms []broker.Room, err error) {
		var s *roomSnapshot
		if err == nil {
			s = l.snapshot(at, rooms)
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

// snapshot builds a snapshot from the broker's list (oldest first).
func (l *roomLister) snapshot(at int64, rooms []broker.Room) *roomSnapshot {
	cfg := &l.srv.cfg
	s := &roomSnapshot{at: at}
	// The v1 reply: the RoomListMax rooms with the most members (the newest
	// first among equals), listed oldest first as the reference client
	// expects.
	shown := slices.Clone(rooms)
	if len(shown) > cfg.RoomListMax {
		slices.SortStableFunc(shown, func(a, b broker.Room) int {
			return cmp.Or(cmp.Compare(b.Members, a.Members), cmp.Compare(b.CreatedAt, a.CreatedAt))
		})
		shown = shown[:cfg.RoomListMax]
		slices.SortFunc(shown, func(a, b broker.Room) int {
			return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), cmp.Compare(a.ID, b.ID))
		})
	}
	for {
		s.frame = v1RoomList(shown)
		if len(s.frame) <= cfg.MaxOutboundBytes/2 || len(shown) == 0 {
			break
		}
		// Long ids and names: keep the reply well under the outbound limit.
		if !l.trimmed.Swap(true) {
			cfg.Logger.Warn("room list reply cut to stay under half of -max-outbound-bytes; lower -room-list-max",
				"rooms", len(shown), "bytes", len(s.frame), "max_outbound_bytes", cfg.MaxOutboundBytes)
		}
		shown = shown[:len(shown)*3/4]
	}
	s.shown = len(shown)
	s.byID = rooms
	slices.SortFunc(s.byID, func(a, b broker.Room) int { return cmp.Compare(a.ID, b.ID) })
	return s
}

// v1RoomList encodes the reference app's roomList reply.
func v1RoomList(rooms []broker.Room) []byte {
	list := make([]RoomInfo, len(rooms))
	for i, r := range rooms {
		list[i] = RoomInfo{RoomID: r.ID, Name: r.Name, MemberCount: r.Members, CreatedAt: r.CreatedAt}
	}
	return frameOf(&RoomList{Type: TypeRoomList, Rooms: list})
}
