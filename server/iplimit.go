package server

import (
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// newPerIPLimit returns the bookkeeping for a limit of max connections per
// address, with its gauge registered; nil when max is 0 (off), so that the
// feature costs nothing then.
func newPerIPLimit(max int, m *metrics) *connsPerIP {
	if max <= 0 {
		return nil
	}
	l := newConnsPerIP(max)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "chatd", Name: "client_addresses",
		Help: "Client addresses with open WebSockets (kept only with -max-conns-per-ip)."},
		func() float64 { return float64(l.addresses()) }))
	return l
}

// connsPerIP counts open WebSockets per client address, for
// Config.MaxConnsPerIP. It exists only when the limit is on.
//
// Per connection it costs one int32 in the session (a slot number, which
// fits in padding the session already had); per distinct address, one map
// entry and one slot. One mutex guards it: it is taken once when a
// connection upgrades and once when it closes, never per message, and the
// work under it is a map lookup.
type connsPerIP struct {
	max   int32
	mu    sync.Mutex
	index map[netip.Addr]int32 // address -> its slot
	slots []ipSlot             // slots[0] is never used: slot 0 means "not counted"
	free  []int32              // slots whose address has no connection left
}

type ipSlot struct {
	addr netip.Addr
	n    int32 // open connections from addr
}

func newConnsPerIP(max int) *connsPerIP {
	return &connsPerIP{max: int32(max), index: map[netip.Addr]int32{}, slots: make([]ipSlot, 1)}
}

// acquire counts one more connection from a and returns its slot, or
// reports false when a already has max.
func (l *connsPerIP) acquire(a netip.Addr) (int32, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i, ok := l.index[a]; ok {
		if l.slots[i].n >= l.max {
			return 0, false
		}
		l.slots[i].n++
		return i, true
	}
	var i int32
	if n := len(l.free); n > 0 {
		i, l.free = l.free[n-1], l.free[:n-1]
	} else {
		i = int32(len(l.slots))
		l.slots = append(l.slots, ipSlot{})
	}
	l.slots[i] = ipSlot{addr: a, n: 1}
	l.index[a] = i
	return i, true
}

// release uncounts a connection acquired with slot i.
func (l *connsPerIP) release(i int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &l.slots[i]
	if s.n--; s.n == 0 {
		delete(l.index, s.addr)
		*s = ipSlot{}
		l.free = append(l.free, i)
	}
}

// addresses returns how many client addresses have open connections.
func (l *connsPerIP) addresses() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.index)
}
