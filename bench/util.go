package bench

import (
	"sync/atomic"
)

// countdown closes done when n events have happened; it is how loops tell the runner that a
// phase is over (every member joined or failed, every member settled, every sender finished,
// every receiver got every last message) without the runner polling.
type countdown struct {
	left atomic.Int64
	done chan struct{}
}

func newCountdown(n int) *countdown {
	c := &countdown{done: make(chan struct{})}
	c.left.Store(int64(n))
	if n <= 0 {
		close(c.done)
	}
	return c
}

func (c *countdown) dec() {
	if c.left.Add(-1) == 0 {
		close(c.done)
	}
}

// rng is splitmix64: a fast, non-cryptographic generator for mask keys and handshake nonces. A
// load generator needs keys that differ, not keys an attacker cannot guess.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
