package server

import (
	"hash/maphash"
	"sync"
)

// userIndex maps this node's user ids to their sessions, so that an event's
// excludeUserId can be turned into a connection once per event per node.
type userIndex struct {
	seed   maphash.Seed
	shards [64]struct {
		mu sync.RWMutex
		m  map[string]*session
	}
}

func newUserIndex() *userIndex {
	u := &userIndex{seed: maphash.MakeSeed()}
	for i := range u.shards {
		u.shards[i].m = make(map[string]*session)
	}
	return u
}

func (u *userIndex) shard(id string) int { return int(maphash.String(u.seed, id) & 63) }

func (u *userIndex) add(s *session) {
	sh := &u.shards[u.shard(s.userID)]
	sh.mu.Lock()
	sh.m[s.userID] = s
	sh.mu.Unlock()
}

func (u *userIndex) remove(s *session) {
	sh := &u.shards[u.shard(s.userID)]
	sh.mu.Lock()
	if sh.m[s.userID] == s {
		delete(sh.m, s.userID)
	}
	sh.mu.Unlock()
}

func (u *userIndex) get(id string) *session {
	sh := &u.shards[u.shard(id)]
	sh.mu.RLock()
	s := sh.m[id]
	sh.mu.RUnlock()
	return s
}
