package chat

import (
	"hash/maphash"
	"net/netip"
	"sync"
)

// Limits shared by several connections: one user's connections (tabs,
// devices, a script opening fifty) and one client address's. A connection's
// own token bucket bounds what one connection does; these bound what many
// do together: one user with 50 connections got 5,487 publishes accepted in
// 5 s under the per-connection limit alone.
//
// The buckets live in a fixed table per kind, indexed by a hash of the user
// id or the address, rather than in a map with an entry per user or address:
// a node's memory for them is fixed (256 KiB per table) whatever the number
// of users, and nothing is kept per idle connection but a 2-byte index.
// Two users or addresses whose hashes meet share a bucket, so together they
// get one's allowance: with 16,384 buckets and thousands of active users a
// few pairs do, which costs them nothing unless both are near the limit.

// sharedBuckets is the size of a shared limit's table (a power of two that
// fits the session's 16-bit address key).
const sharedBuckets = 1 << 14

// sharedLimit is one table of token buckets, locked in shards.
type sharedLimit struct {
	rate    float64 // negative: no limit
	burst   int
	seed    maphash.Seed
	shards  [64]sync.Mutex
	buckets [sharedBuckets]tokenBucket
}

func newSharedLimit(rate float64, burst int) *sharedLimit {
	return &sharedLimit{rate: rate, burst: burst, seed: maphash.MakeSeed()}
}

// key is the bucket of an address.
func (l *sharedLimit) key(a netip.Addr) uint16 {
	b := a.Unmap().As16()
	return uint16(maphash.Bytes(l.seed, b[:]) & (sharedBuckets - 1))
}

// keyString is the bucket of a user id.
func (l *sharedLimit) keyString(s string) uint16 {
	return uint16(maphash.String(l.seed, s) & (sharedBuckets - 1))
}

// allow takes a token from bucket k at now (ns of the node clock).
func (l *sharedLimit) allow(k uint16, now int64) bool {
	if l.rate < 0 {
		return true
	}
	mu := &l.shards[k&63]
	mu.Lock()
	ok := l.buckets[k].allow(now, l.rate, l.burst)
	mu.Unlock()
	return ok
}
