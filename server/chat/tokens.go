package chat

import (
	"container/heap"
	"sync"

	"github.com/chatd/chatd/server/auth"
)

// tokenRegistry holds what a token says about the connections that have one:
// the user, the rooms it may join, and when it expires. Connections without
// a token have no entry and cost nothing here (session keeps only a flag in
// what was padding). Expiry is one min-heap per node, swept by one goroutine
// (tokenSweeper), not a timer per connection.
type tokenRegistry struct {
	mu     sync.Mutex
	heap   tokenHeap
	bySess map[*Session]*tokenEntry
	byUser map[string][]*tokenEntry // for disconnecting a user's connections
}

// tokenEntry is one connection's token.
type tokenEntry struct {
	s        *Session
	user     string
	name     string
	rooms    auth.Rooms
	deadline int64 // unix ns: exp plus the leeway
	idx      int   // position in the heap; -1 when out of it (swept)
}

func newTokenRegistry() *tokenRegistry {
	return &tokenRegistry{bySess: make(map[*Session]*tokenEntry), byUser: make(map[string][]*tokenEntry)}
}

// set records or replaces s's token. A replacement (refresh) keeps the user.
func (r *tokenRegistry) set(s *Session, c *auth.Claims, deadline int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.bySess[s]
	if e == nil {
		e = &tokenEntry{s: s, user: c.UserID, idx: -1}
		r.bySess[s] = e
		r.byUser[e.user] = append(r.byUser[e.user], e)
	} else if e.user != c.UserID {
		// A hello token that names another user than the URL token.
		r.dropUserLocked(e)
		e.user = c.UserID
		r.byUser[e.user] = append(r.byUser[e.user], e)
	}
	e.name, e.rooms, e.deadline = c.Name, c.Rooms, deadline
	if e.idx >= 0 {
		heap.Fix(&r.heap, e.idx)
	} else {
		heap.Push(&r.heap, e)
	}
}

// remove forgets s's token (the connection is gone).
func (r *tokenRegistry) remove(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.bySess[s]
	if e == nil {
		return
	}
	delete(r.bySess, s)
	if e.idx >= 0 {
		heap.Remove(&r.heap, e.idx)
	}
	r.dropUserLocked(e)
}

func (r *tokenRegistry) dropUserLocked(e *tokenEntry) {
	list := r.byUser[e.user]
	for i, x := range list {
		if x == e {
			list[i] = list[len(list)-1]
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(r.byUser, e.user)
	} else {
		r.byUser[e.user] = list
	}
}

// lookup returns a copy of s's entry; ok is false without a token.
func (r *tokenRegistry) lookup(s *Session) (e tokenEntry, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.bySess[s]; p != nil {
		return *p, true
	}
	return tokenEntry{}, false
}

// expired takes every entry whose deadline is at or before now out of the
// heap and returns their sessions. Each stays registered: its connection is
// closed on its loop after a last look (a refresh may have come first).
func (r *tokenRegistry) expired(now int64) []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Session
	for len(r.heap) > 0 && r.heap[0].deadline <= now {
		e := heap.Pop(&r.heap).(*tokenEntry)
		out = append(out, e.s)
	}
	return out
}

// sessionsOf returns the connections of user that have a token.
func (r *tokenRegistry) sessionsOf(user string) []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Session, 0, len(r.byUser[user]))
	for _, e := range r.byUser[user] {
		out = append(out, e.s)
	}
	return out
}

// len is the number of connections with a token.
func (r *tokenRegistry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bySess)
}

// tokenHeap orders entries by deadline (container/heap).
type tokenHeap []*tokenEntry

func (h tokenHeap) Len() int           { return len(h) }
func (h tokenHeap) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h tokenHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *tokenHeap) Push(x any) {
	e := x.(*tokenEntry)
	e.idx = len(*h)
	*h = append(*h, e)
}
func (h *tokenHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.idx = -1
	return e
}
