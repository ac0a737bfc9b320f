package chat

import (
	"sync"

	"github.com/chatd/chatd/server/broker"
)

// Presence answers come from a short-lived per-node cache: a room's member
// list read from the cluster serves every presence request for that room on
// this node for PresenceCache, and requests that arrive while a read is
// under way wait for it rather than start another. Without it, ten clients
// asking presence of a big room at their rate limit made the cluster read
// the member set hundreds of times a second, and every other client waited
// behind those reads. A join or leave of the room on this node, and every
// joined/left notice this node delivers for it, drops the room's entry: a
// client that saw a member come or go, or just joined, never gets an older
// list. (In rooms past NoticeRoomSize, where notices are sampled, changes
// without a notice show within PresenceCache.)

// presenceCache holds recent member lists by room.
type presenceCache struct {
	mu sync.Mutex
	m  map[string]*presenceEntry
}

// presenceEntry is one room's last read, or the read under way.
type presenceEntry struct {
	at      int64 // Node.now() when the read began
	done    bool
	members []broker.Member
	count   int
	waiters []func([]broker.Member, int, error)
}

// presenceSweepAt is the number of entries past which an insert first drops
// the stale ones: the cache holds the rooms asked about within
// PresenceCache, and no more than that for long.
const presenceSweepAt = 1024

// Presence lists a joined room's members, cluster-wide (users, not
// connections): at most PresenceMax, and the room's member count, at most
// PresenceCache old. done runs on the loop; the session is busy until then.
func (s *Session) Presence(roomID string, done func(members []broker.Member, count int, e *Error)) {
	if s.in(roomID) == nil {
		done(nil, 0, NotIn(roomID))
		return
	}
	answer := s.Await()
	s.node.members(roomID, func(list []broker.Member, count int, err error) {
		answer(func() {
			if err != nil {
				done(nil, 0, errNoPresence)
				return
			}
			done(list, count, nil)
		})
	})
}

// members calls done (on any goroutine) with room's members, from the
// cache when it is fresh.
func (n *Node) members(room string, done func([]broker.Member, int, error)) {
	if n.cfg.PresenceCache <= 0 {
		n.broker.Members(room, n.cfg.PresenceMax, done)
		return
	}
	c := &n.presence
	now := n.now()
	c.mu.Lock()
	e := c.m[room]
	if e != nil && now-e.at < int64(n.cfg.PresenceCache) {
		if e.done {
			list, count := e.members, e.count
			c.mu.Unlock()
			done(list, count, nil)
			return
		}
		e.waiters = append(e.waiters, done)
		c.mu.Unlock()
		return
	}
	if c.m == nil {
		c.m = map[string]*presenceEntry{}
	}
	if len(c.m) >= presenceSweepAt {
		for k, x := range c.m {
			if x.done && now-x.at >= int64(n.cfg.PresenceCache) {
				delete(c.m, k)
			}
		}
	}
	e = &presenceEntry{at: now, waiters: []func([]broker.Member, int, error){done}}
	c.m[room] = e
	c.mu.Unlock()
	n.broker.Members(room, n.cfg.PresenceMax, func(list []broker.Member, count int, err error) {
		c.mu.Lock()
		ws := e.waiters
		e.waiters = nil
		if err != nil {
			if c.m[room] == e {
				delete(c.m, room) // errors are not cached
			}
		} else {
			e.members, e.count, e.done = list, count, true
		}
		c.mu.Unlock()
		for _, w := range ws {
			w(list, count, err)
		}
	})
}

// forgetPresence drops room's cached member list (a member of it joined or
// left on this node).
func (n *Node) forgetPresence(room string) {
	if n.cfg.PresenceCache <= 0 {
		return
	}
	c := &n.presence
	c.mu.Lock()
	delete(c.m, room) // a read under way answers its waiters, and is not kept

	c.mu.Unlock()
}
