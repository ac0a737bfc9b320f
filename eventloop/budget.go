package eventloop

import (
	"cmp"
	"math/bits"
	"slices"
)

// The node-wide budget for queued outbound bytes (Config.MaxNodeOutboundBytes).
// MaxOutboundBytes bounds each connection, but not their sum: 400 clients
// that stopped reading, each within its 1 MiB, took a node from 32 MB to
// 447 MB of RSS, and a full node could queue ~20 GB (issue 24). Past the
// budget, the connections with the largest queues are closed (4008) until
// the node is back under it: they hold the most memory, and a reader that
// is merely a little behind has a small queue and stays.
//
// What is measured. A connection's queue is gnet's outbound buffer plus the
// frames queued in the current turn, as for MaxOutboundBytes. gnet keeps
// the bytes in pooled buffers rounded up to a power of two, so the memory
// behind a queue is up to twice its bytes.
//
// DefaultMaxNodeOutboundBytes is 256 MiB. A healthy node queues next to
// nothing (a reading client's kernel buffers take what it is sent), so the
// budget only meets connections that stopped reading: 256 of them may sit
// at their full 1 MiB (a crowd of phones losing signal together) before any
// is closed for the node's sake. With gnet's power-of-two buffers that is
// at most ~512 MiB of heap, on a node whose 20,000 idle connections take
// ~18 MB, instead of the ~20 GB that every connection at its own limit
// would take; the 400 stalled clients are cut back to 256 MiB.
// Nodes with more memory to spare raise it.
//
// Where totals are kept. Only a connection's own loop may read its buffer,
// and gnet says nothing when it drains, so a running total per connection
// would cost a read of the buffer after every write, per member. Instead
// each loop measures all its connections (one pass, a few ns each) and
// publishes its total and a histogram of queue sizes (atomics, read by the
// other loops): at every timer sweep, and whenever it has flushed more than
// a step of bytes since it last measured (the step is an eighth of the
// budget shared among the loops, at least 64 KiB). The hot path pays one
// addition per flush and one comparison per turn; a loop's queues can grow
// at most a step between measurements, so the node overshoots the budget
// by at most an eighth of it, plus what the other loops' published figures
// lag (at most a tick).
//
// Largest first, node-wide. A loop whose measurement puts the node over
// the budget finds, in the node's histogram, the size class at which the
// largest queues add up to the excess; it closes its own connections above
// that class, largest first, and its share (in proportion to its bytes
// there) of the boundary class. Each loop does the same at its next
// measurement, so the closes are the node's largest queues, to within a
// size class (an eighth of a power of two), whichever loop they are on.

// Size classes: eight per power of two (log-linear), so a class spans at
// most an eighth of its sizes; sizes below eight are a class each.
const (
	classSubBits  = 3
	classMaxBits  = 40 // queues of 1 TiB and more share the last class
	numSizeClass  = (classMaxBits - classSubBits + 1) << classSubBits
	minBudgetStep = 64 << 10
)

// sizeClass returns the class of a queue of n > 0 bytes; classes increase
// with n.
func sizeClass(n int64) int {
	if n < 1<<classSubBits {
		return int(n)
	}
	n = min(n, 1<<classMaxBits-1)
	e := bits.Len64(uint64(n)) - 1 // ≥ classSubBits
	return (e-classSubBits+1)<<classSubBits | int(n>>(e-classSubBits))&(1<<classSubBits-1)
}

// queuedConn is a connection and its queue, while the budget closes some.
type queuedConn struct {
	c *Conn
	n int64
}

// queued returns the bytes queued for c: gnet's buffer and this turn's
// frames. Loop only.
func (c *Conn) queued() int64 {
	if c.state == stateClosed || c.gc == nil { // gone, or a detached stream (its retained events are bounded apart)
		return 0
	}
	return int64(c.gc.OutboundBuffered()) + int64(c.pBytes)
}

// measureQueues measures every connection's queue and publishes the loop's
// total and histogram. Connections about to be dropped (at the end of the
// turn) are left out: their memory is as good as gone, and counting them
// again would close more.
func (l *loop) measureQueues() {
	var hist [numSizeClass]int64
	var total int64
	for _, c := range l.conns {
		if c.aborting {
			continue
		}
		if n := c.queued(); n > 0 {
			total += n
			hist[sizeClass(n)] += n
		}
	}
	for i := range hist {
		if hist[i] != 0 || l.queuedHist[i].Load() != 0 {
			l.queuedHist[i].Store(hist[i])
		}
	}
	l.stats.queued.Store(total)
	l.sinceMeasure = 0
}

// checkBudget measures the loop's queues and, if the node is over its
// budget, closes this loop's share of the largest.
func (l *loop) checkBudget() {
	l.measureQueues()
	budget := int64(l.eng.cfg.MaxNodeOutboundBytes)
	if budget <= 0 {
		return
	}
	var total int64
	for _, o := range l.eng.loops {
		total += o.stats.queued.Load()
	}
	if total > budget {
		l.trimQueues(budget)
	}
}

// trimQueues closes this loop's share of the node's largest queues, so that
// the node's queues fall under budget.
func (l *loop) trimQueues(budget int64) {
	// The node's histogram. Its own total decides, not the loops' totals:
	// another loop may be publishing while this one reads, and a total
	// that the histogram does not add up to would find no boundary.
	var node [numSizeClass]int64
	var total int64
	for _, o := range l.eng.loops {
		for k := range node {
			h := o.queuedHist[k].Load()
			node[k] += h
			total += h
		}
	}
	if total <= budget {
		return
	}
	// The boundary class: the largest queues of the node, class by class,
	// until they add up to the excess (they do, at class 0 at the latest).
	cut, need := 0, total-budget
	for k := numSizeClass - 1; k >= 0; k-- {
		if node[k] >= need {
			cut = k
			break
		}
		need -= node[k]
	}
	// This loop's share of the boundary class, rounded up.
	var share int64
	if mine := l.queuedHist[cut].Load(); node[cut] > 0 && mine > 0 {
		share = (need*mine + node[cut] - 1) / node[cut]
	}

	cands := l.budgetScratch[:0]
	for _, c := range l.conns {
		if c.state == stateHandshake || c.aborting {
			continue
		}
		if n := c.queued(); n > 0 && sizeClass(n) >= cut {
			cands = append(cands, queuedConn{c, n})
		}
	}
	slices.SortFunc(cands, func(a, b queuedConn) int { return cmp.Compare(b.n, a.n) })
	var freed int64
	for _, q := range cands {
		k := sizeClass(q.n)
		if k == cut {
			if freed >= share {
				break
			}
			freed += q.n
		}
		l.queuedHist[k].Add(-q.n)
		l.stats.queued.Add(-q.n)
		q.c.budgetClose(q.n)
	}
	clear(cands)
	l.budgetScratch = cands[:0]
	if cap(l.budgetScratch) > maxKeptPending {
		l.budgetScratch = nil
	}
}

// budgetClose closes a connection to bring the node under its outbound
// budget: as a slow consumer (4008), dropped at the end of the turn, but
// counted apart from those over their own MaxOutboundBytes.
func (c *Conn) budgetClose(queued int64) {
	l := c.loop
	l.stats.budgetCloses.Add(1)
	if c.st != nil {
		l.stats.streamSlow.Add(1)
	}
	l.eng.cfg.Logger.Debug("slow consumer closed: node over its outbound budget", "remote", c.RemoteAddr(),
		"queued", queued, "budget", l.eng.cfg.MaxNodeOutboundBytes)
	c.Close(CloseSlowConsumer, "slow consumer")
	c.abort()
}

// afterFlush measures the loop's queues when it has written a step of bytes
// since it last did; callers may close connections then (between tasks).
func (l *loop) afterFlush() {
	if l.budgetStep > 0 && l.sinceMeasure >= l.budgetStep {
		l.checkBudget()
	}
}

// budgetStep is how many bytes a loop flushes between two measurements: an
// eighth of the budget shared among the loops, at least minBudgetStep; 0
// without a budget (the sweep still measures, for Stats).
func budgetStep(budget, loops int) int64 {
	if budget <= 0 {
		return 0
	}
	return max(int64(budget)/int64(8*max(loops, 1)), minBudgetStep)
}
