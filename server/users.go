package server

import (
	"sync"
)

// userIndex maps this node's user ids to their sessions, so that an event's
// excludeUserId can be turned into a connection once per event per node.
// Keys are the ids read as base-36 numbers (see idKey): 16 bytes a map entry
// rather than 24, and no string hashing.
type userIndex struct {
	shards [64]struct {
		mu sync.RWMutex
		m  map[uint64]*session
	}
}

func newUserIndex() *userIndex {
	u := &userIndex{}
	for i := range u.shards {
		u.shards[i].m = make(map[uint64]*session)
	}
	return u
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
	// The length keeps "0a" and "a" apart: 36^11 * 12 < 2^64.
	return key*12 + uint64(len(id)), true
}

func (u *userIndex) shard(key uint64) int { return int((key ^ key>>17) & 63) }

func (u *userIndex) add(s *session) {
	key, ok := idKey(s.userID)
	if !ok {
		panic("server: generated user id " + s.userID + " is not base 36")
	}
	sh := &u.shards[u.shard(key)]
	sh.mu.Lock()
	sh.m[key] = s
	sh.mu.Unlock()
}

func (u *userIndex) remove(s *session) {
	key, _ := idKey(s.userID)
	sh := &u.shards[u.shard(key)]
	sh.mu.Lock()
	if sh.m[key] == s {
		delete(sh.m, key)
	}
	sh.mu.Unlock()
}

func (u *userIndex) get(id string) *session {
	key, ok := idKey(id)
	if !ok {
		return nil
	}
	sh := &u.shards[u.shard(key)]
	sh.mu.RLock()
	s := sh.m[key]
	sh.mu.RUnlock()
	return s
}
