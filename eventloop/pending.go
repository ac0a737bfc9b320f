package eventloop

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
)

// Pending handshakes per peer address (Config.MaxPendingPerIP). Without a
// bound, one address can hold every connection slot of a node with silent
// sockets until the handshake timeout, then reconnect (issue 15: 15,800 of
// them from one IP left real users with 503s). The count is node-wide, since
// gnet spreads one address's connections over every loop; it is sharded so
// that loops rarely meet on a lock. A connection costs the table nothing but
// the Conn.pending flag: its address is read again from gnet when it leaves.
//
// The bound engages only under handshake pressure (Config.PendingPressure):
// while fewer handshakes than that are in progress node-wide, any address
// may start any number. An idle node therefore takes a load generator's or
// a NAT's burst of thousands from one address (issue 19: 400 clients from
// one address got 122–171 refusals on an idle node), and a slow-handshake
// flood is still stopped: it is pressure itself. Its address passes the
// per-address bound while the node fills up to the threshold, and from then
// on it is refused, while every address below the bound still gets in. One
// address thus holds at most max(PendingPressure, MaxPendingPerIP) slots,
// k addresses at most PendingPressure + k×MaxPendingPerIP, as before plus
// the threshold. The threshold counts what the node has in progress, not
// how long each has waited: a flood that stalls must be stopped before it
// has waited (it filled a node in 3.5 s, issue 24), and a burst that
// completes fast never reaches the threshold.
//
// DefaultPendingPressure is 4096: twice the burst issue 19 asks an idle node
// to take from one address; the kernel's default listen backlog
// (net.core.somaxconn), so a burst the kernel queues in full still fits; and
// a fifth of a 20,000-file node, so a flood from one address leaves four
// fifths of the slots to everyone else. On a node with fewer connections
// (MaxTCPConns) it is a quarter of them, so that the bound can still engage.

const pendingShards = 16

// pendingTable counts, per address, the connections not yet upgraded.
type pendingTable struct {
	limit    int32        // ≤ 0: no bound
	pressure int32        // the bound applies once total reaches this
	total    atomic.Int32 // connections counted in the shards, node-wide
	exempt   []netip.Prefix
	shards   [pendingShards]pendingShard
}

type pendingShard struct {
	mu sync.Mutex
	n  map[netip.Addr]int32 // entries are deleted at 0: the map holds only addresses handshaking now
}

// newPendingTable bounds each address to limit pending connections (≤ 0: no
// bound) once pressure are pending node-wide (≤ 0: always).
func newPendingTable(limit, pressure int, exempt []netip.Prefix) *pendingTable {
	t := &pendingTable{limit: int32(max(limit, 0)), pressure: int32(max(pressure, 0)), exempt: exempt}
	for i := range t.shards {
		t.shards[i].n = make(map[netip.Addr]int32)
	}
	return t
}

// shard picks a's shard from the low bytes of its address.
func (t *pendingTable) shard(a netip.Addr) *pendingShard {
	b := a.As16()
	return &t.shards[(b[15]^b[14]^b[13]^b[11])%pendingShards]
}

// acquire counts one more pending connection from a. ok is false when a is
// at the limit while the node is under pressure (nothing is counted then);
// counted is false when a is not subject to the limit. Below the pressure
// threshold the connection is counted all the same, so that the bound
// knows where each address stands when it engages.
func (t *pendingTable) acquire(a netip.Addr) (counted, ok bool) {
	if t.limit <= 0 || t.isExempt(a) {
		return false, true
	}
	s := t.shard(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.n[a]
	if n >= t.limit && t.total.Load() >= t.pressure {
		return false, false
	}
	s.n[a] = n + 1
	t.total.Add(1)
	return true, true
}

// release forgets one pending connection from a, counted by acquire.
func (t *pendingTable) release(a netip.Addr) {
	s := t.shard(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	t.total.Add(-1)
	if n := s.n[a] - 1; n > 0 {
		s.n[a] = n
	} else {
		delete(s.n, a)
	}
}

func (t *pendingTable) isExempt(a netip.Addr) bool {
	for _, p := range t.exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerIP returns the peer's address, IPv4-mapped IPv6 as IPv4, and false for
// a connection that is not TCP (or is gone).
func peerIP(gc gnet.Conn) (netip.Addr, bool) {
	ta, ok := gc.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ta.IP)
	return a.Unmap(), ok
}

// admitPending counts a new connection against its address's pending bound;
// false when the address is at the bound and the connection is refused.
func (e *Engine) admitPending(c *Conn) bool {
	a, ok := peerIP(c.gc)
	if !ok {
		return true
	}
	counted, ok := e.pending.acquire(a)
	c.pending = counted
	return ok
}

// donePending ends a connection's pending period: it upgraded or it is gone.
func (e *Engine) donePending(c *Conn) {
	if !c.pending {
		return
	}
	c.pending = false
	if a, ok := peerIP(c.gc); ok {
		e.pending.release(a)
	}
}
