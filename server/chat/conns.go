package chat

import (
	"sync"
	"sync/atomic"
)

// connIndex maps this node's connection numbers to their sessions. A room
// event published by one of this node's connections carries the number
// (broker.Event.Conn), so that when the event comes back from the cluster
// the node can leave that connection out of the fan-out: the publisher got
// its echo (v1) or its ok (v2) already.
//
// A connection whose user id is one of ours (random, one per connection,
// like the reference app's) is numbered by that id read as a base-36 number
// (idKey): the same index then also finds the connection of an
// excludeUserId that a reference node publishes. Other user ids (from
// tokens, shared by a user's connections) get numbers from a counter, above
// every idKey. 16 bytes a map entry.
type connIndex struct {
	next   atomic.Uint64
	shards [64]struct {
		mu sync.RWMutex
		m  map[uint64]*Session
		_  [32]byte // one shard per cache line
	}
}

// counted marks connection numbers that are not idKeys (idKey < 2^61).
const counted = 1 << 63

func newConnIndex() *connIndex {
	x := &connIndex{}
	for i := range x.shards {
		x.shards[i].m = make(map[uint64]*Session)
	}
	return x
}

func (x *connIndex) shard(id uint64) int { return int((id ^ id>>17) & 63) }

// add numbers s (which has its user id) and records it.
func (x *connIndex) add(s *Session) {
	if k, ok := idKey(s.UserID()); ok && x.get(k) == nil {
		s.id = k
	} else {
		s.id = counted | x.next.Add(1)
	}
	sh := &x.shards[x.shard(s.id)]
	sh.mu.Lock()
	sh.m[s.id] = s
	sh.mu.Unlock()
}

func (x *connIndex) remove(s *Session) {
	if s.id == 0 {
		return
	}
	sh := &x.shards[x.shard(s.id)]
	sh.mu.Lock()
	if sh.m[s.id] == s {
		delete(sh.m, s.id)
	}
	sh.mu.Unlock()
}

// get returns the session numbered id, or nil.
func (x *connIndex) get(id uint64) *Session {
	sh := &x.shards[x.shard(id)]
	sh.mu.RLock()
	s := sh.m[id]
	sh.mu.RUnlock()
	return s
}

// user returns the connection of one of our user ids, or nil.
func (x *connIndex) user(userID string) *Session {
	k, ok := idKey(userID)
	if !ok {
		return nil
	}
	if s := x.get(k); s != nil && s.UserID() == userID {
		return s
	}
	return nil
}

// idKey turns a user id of up to 11 base-36 digits (ours have 10, like the
// reference app's) into a distinct number; other strings are no ids of
// ours, and ok is false.
func idKey(id string) (key uint64, ok bool) {
	if len(id) == 0 || len(id) > 11 {
		return 0, false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'z':
			d = uint64(c-'a') + 10
		default:
			return 0, false
		}
		key = key*36 + d
	}
	// The length keeps "0a" and "a" apart: 36^11 * 12 < 2^61.
	return key*12 + uint64(len(id)), true
}
