package chat

import (
	"sync"
	"sync/atomic"

	"github.com/chatd/chatd/server/broker"
)

// Presence answers come from a short-lived per-node cache: a room's member
// list read from the cluster serves every presence request for that room on
// this node for PresenceCache, and requests that arrive while a read is
// under way wait for it rather than start another. Without it, ten clients
// asking presence of a big room at their rate limit made the cluster read
// the member set hundreds of times a second, and every other client waited
// behind those reads.
//
// A client never gets a list older than the notices it has seen: a join or
// leave of the room on this node, and every joined/left notice this node
// delivers for it, drops the room's entry and marks it overtaken (before
// the notice is queued to any connection). An answer is checked on the
// requester's loop, where it is ordered with the notices: if its read was
// overtaken, a notice may have gone out before it, and the request waits
// for a new read instead (at most presenceRereads times in a row). An entry
// that leaves the cache for another reason is marked too, so that no
// answer escapes the check. (In rooms past NoticeRoomSize, where notices
// are sampled, changes without a notice show within PresenceCache.)

// presenceCache holds recent member lists by room.
type presenceCache struct {
	mu sync.Mutex
	m  map[string]*presenceEntry
}

// presenceEntry is one room's last read, or the read under way.
type presenceEntry struct {
	at        int64 // Node.now() when the read began
	done      bool
	members   []broker.Member
	count     int
	waiters   []func(*presenceEntry, []broker.Member, int, error)
	overtaken atomic.Bool // out of the cache: a change of the room may be missing from the read
}

// presenceSweepAt is the number of entries past which an insert first drops
// the stale ones: the cache holds the rooms asked about within
// PresenceCache, and no more than that for long.
const presenceSweepAt = 1024

// presenceRereads bounds the reads one presence request waits for when its
// room keeps changing while each is under way (then the last read answers:
// in a room that churns that fast, a list is out of date when it arrives).
const presenceRereads = 4

// Presence lists a joined room's members, cluster-wide (users, not
// connections): at most PresenceMax, and the room's member count, at most
// PresenceCache old and never older than a joined/left notice of the room
// sent to this connection before the answer. done runs on the loop; the
// session is busy until then.
func (s *Session) Presence(roomID string, done func(members []broker.Member, count int, e *Error)) {
	if s.in(roomID) == nil {
		done(nil, 0, NotIn(roomID))
		return
	}
	s.presence(roomID, 0, done)
}

func (s *Session) presence(roomID string, round int, done func([]broker.Member, int, *Error)) {
	answer := s.Await()
	s.node.members(roomID, func(e *presenceEntry, list []broker.Member, count int, err error) {
		answer(func() {
			switch {
			case err != nil:
				done(nil, 0, errNoPresence)
			case e.overtaken.Load() && round < presenceRereads:
				// (On the loop: every notice queued here before this answer
				// marked its read first.)
				s.node.m.presenceRereads.Inc()
				s.presence(roomID, round+1, done)
			default:
				done(list, count, nil)
			}
		})
	})
}

// members calls done (on any goroutine) with room's members and the read
// they come from: the cached read when it is fresh, the read under way when
// there is one, else a new read. With the cache off (PresenceCache <= 0),
// requests share only a read under way.
func (n *Node) members(room string, done func(*presenceEntry, []broker.Member, int, error)) {
	c := &n.presence
	now := n.now()
	c.mu.Lock()
	e := c.m[room]
	if e != nil && !e.done {
		e.waiters = append(e.waiters, done)
		c.mu.Unlock()
		return
	}
	if e != nil && now-e.at < int64(n.cfg.PresenceCache) { // (done)
		list, count := e.members, e.count
		c.mu.Unlock()
		done(e, list, count, nil)
		return
	}
	if e != nil {
		e.overtaken.Store(true) // replaced: out of forgetPresence's reach
	}
	if c.m == nil {
		c.m = map[string]*presenceEntry{}
	}
	if len(c.m) >= presenceSweepAt {
		for k, x := range c.m {
			if x.done && now-x.at >= int64(n.cfg.PresenceCache) {
				x.overtaken.Store(true)
				delete(c.m, k)
			}
		}
	}
	e = &presenceEntry{at: now, waiters: []func(*presenceEntry, []broker.Member, int, error){done}}
	c.m[room] = e
	c.mu.Unlock()
	n.broker.Members(room, n.cfg.PresenceMax, func(list []broker.Member, count int, err error) {
		c.mu.Lock()
		ws := e.waiters
		e.waiters = nil
		if err != nil {
			if c.m[room] == e {
				delete(c.m, room) // errors are not cached (nor checked: they answer no list)
			}
		} else {
			// With the cache off the entry stays too, without its list and
			// never served again: a change of the room must still find it
			// (and mark it) until its answers were checked.
			e.done = true
			if n.cfg.PresenceCache > 0 {
				e.members, e.count = list, count
			}
		}
		c.mu.Unlock()
		for _, w := range ws {
			w(e, list, count, err)
		}
	})
}

// forgetPresence drops room's cached member list and marks it overtaken: a
// member of the room joined or left on this node, or a joined/left notice of
// it is about to be delivered here.
func (n *Node) forgetPresence(room string) {
	c := &n.presence
	c.mu.Lock()
	if e := c.m[room]; e != nil {
		e.overtaken.Store(true)
		delete(c.m, room)
	}
	c.mu.Unlock()
}
