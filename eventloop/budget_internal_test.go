package eventloop

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"
)

func TestSizeClass(t *testing.T) {
	// Classes increase with the size and span at most an eighth of it.
	prev, first := -1, int64(1)
	for n := int64(1); n < 1<<42; n += max(n/97, 1) {
		k := sizeClass(n)
		if k < prev || k >= numSizeClass {
			t.Fatalf("sizeClass(%d) = %d after %d (of %d classes)", n, k, prev, numSizeClass)
		}
		if k != prev {
			first, prev = n, k
		}
		if n < 1<<classMaxBits && n-first > first/8 {
			t.Fatalf("class %d spans %d..%d, more than an eighth", k, first, n)
		}
	}
	for _, tc := range []struct {
		n    int64
		want int
	}{{1, 1}, {7, 7}, {8, 8}, {15, 15}, {16, 16}, {17, 16}, {18, 17}, {1 << 20, 18 << 3}, {1<<20 + 1<<17, 18<<3 | 1},
		{1 << 50, numSizeClass - 1}} {
		if got := sizeClass(tc.n); got != tc.want {
			t.Errorf("sizeClass(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

// bufConn is a null gnet connection with a given outbound backlog.
type bufConn struct {
	nullConn
	buffered int
}

func (g *bufConn) OutboundBuffered() int { return g.buffered }
func (g *bufConn) RemoteAddr() net.Addr  { return nil }

// budgetEngine is an engine of loops that is never started, with a budget.
func budgetEngine(loops, budget int) *Engine {
	e := &Engine{base: time.Now(), cfg: Config{MaxOutboundBytes: 1 << 30, MaxNodeOutboundBytes: budget, Loops: loops,
		Handler: nopHandler{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	for i := range loops {
		e.loops = append(e.loops, newLoop(e, i))
	}
	return e
}

// queueOf adds an open connection with n bytes queued to l.
func queueOf(l *loop, n int) *Conn {
	c := &Conn{gc: &bufConn{buffered: n}, loop: l, state: stateOpen}
	l.addConn(c)
	l.stats.websockets.Add(1)
	return c
}

// TestTrimQueues: over the node's budget, the loops close the node's
// largest queues, whichever loop holds them, until the rest fits; each loop
// closes only its own, and one measurement of each loop suffices.
func TestTrimQueues(t *testing.T) {
	const K = 1 << 10
	for _, tc := range []struct {
		name   string
		budget int
		loops  [][]int // queue sizes per loop
		closed []int   // the sizes that must be closed
	}{
		{"under the budget", 2000 * K, [][]int{{300 * K, 200 * K}, {400 * K, 100 * K}}, nil},
		{"at the budget", 1000 * K, [][]int{{300 * K, 200 * K}, {400 * K, 100 * K}}, nil},
		{"the largest, on the other loop", 900 * K, [][]int{{300 * K, 200 * K}, {400 * K, 100 * K}}, []int{400 * K}},
		{"largest first over both loops", 500 * K, [][]int{{300 * K, 200 * K, 10 * K}, {400 * K, 100 * K, 20 * K}},
			[]int{400 * K, 300 * K}},
		{"each loop under, the node over", 1024 * K, [][]int{{600 * K, 100 * K}, {500 * K, 200 * K}}, []int{600 * K}},
		{"closing queues are candidates too", 100 * K, [][]int{{-300 * K, 50 * K}, {80 * K}}, []int{300 * K, 80 * K}},
		{"one loop", 64 * K, [][]int{{9 * K, 70 * K, 33 * K, 1 * K, 64 * K}}, []int{70 * K, 64 * K}},
		{"within a class, no more than needed", 1000 * K, [][]int{{260 * K, 261 * K}, {262 * K, 263 * K}},
			[]int{263 * K}},
		{"no budget", -1, [][]int{{1 << 30}, {1 << 30}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := budgetEngine(len(tc.loops), tc.budget)
			size := map[*Conn]int{}
			for i, sizes := range tc.loops {
				for _, n := range sizes {
					c := queueOf(e.loops[i], max(n, -n))
					if n < 0 { // a connection already closing (our close frame sent)
						c.Close(CloseNormal, "")
					}
					size[c] = max(n, -n)
				}
			}
			// Each loop measures once, in turn, as their sweeps would.
			for _, l := range e.loops {
				l.measureQueues()
			}
			for _, l := range slices.Backward(e.loops) {
				l.checkBudget()
			}
			var closed []int
			var left int64
			for c, n := range size {
				if c.aborting {
					closed = append(closed, n)
					if c.closeCode != CloseSlowConsumer && c.closeCode != CloseNormal {
						t.Errorf("closed with %d", c.closeCode)
					}
				} else {
					left += int64(n)
				}
			}
			slices.Sort(closed)
			want := slices.Clone(tc.closed)
			slices.Sort(want)
			if !slices.Equal(closed, want) {
				t.Fatalf("closed %v, want %v", closed, want)
			}
			var counted, queued int64
			for _, l := range e.loops {
				counted += l.stats.budgetCloses.Load()
				queued += l.stats.queued.Load()
			}
			if counted != int64(len(want)) || queued != left {
				t.Fatalf("BudgetCloses %d, queued %d; want %d and %d", counted, queued, len(want), left)
			}
			if tc.budget > 0 && left > int64(tc.budget) {
				t.Fatalf("%d bytes left queued, over the budget of %d", left, tc.budget)
			}
		})
	}
}

// TestBudgetStep: a loop measures again once it has flushed a step of
// bytes, an eighth of its share of the budget; without a budget only the
// sweep measures.
func TestBudgetStep(t *testing.T) {
	for _, tc := range []struct {
		budget, loops int
		want          int64
	}{{256 << 20, 2, 16 << 20}, {256 << 20, 4, 8 << 20}, {1 << 20, 2, minBudgetStep}, {-1, 2, 0}} {
		if got := budgetStep(tc.budget, tc.loops); got != tc.want {
			t.Errorf("budgetStep(%d, %d) = %d, want %d", tc.budget, tc.loops, got, tc.want)
		}
	}
	e := budgetEngine(1, 1<<20)
	l := e.loops[0]
	c := queueOf(l, 0)
	l.measureQueues()
	c.gc.(*bufConn).buffered = 2 << 20 // the peer stopped reading
	l.sinceMeasure = l.budgetStep - 1
	l.afterFlush()
	if c.aborting {
		t.Fatal("measured before a step was flushed")
	}
	l.sinceMeasure++
	l.afterFlush()
	if !c.aborting || l.sinceMeasure != 0 {
		t.Fatalf("after a step: aborting %v, sinceMeasure %d", c.aborting, l.sinceMeasure)
	}
}

// TestTrimQueuesRandom: whatever the sizes, one measurement per loop leaves
// the node under its budget, and every closed queue is at least as large as
// every queue left, to within a size class.
func TestTrimQueuesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		loops := 1 + rng.IntN(4)
		budget := 1 + rng.IntN(8<<20)
		e := budgetEngine(loops, budget)
		var all []*Conn
		for _, l := range e.loops {
			for range rng.IntN(50) {
				all = append(all, queueOf(l, rng.IntN(1<<20)))
			}
		}
		for _, l := range e.loops {
			l.measureQueues()
		}
		for _, l := range e.loops {
			l.checkBudget()
		}
		var left int64
		smallestClosed, largestLeft := numSizeClass, -1
		for _, c := range all {
			n := int64(c.gc.(*bufConn).buffered)
			if n == 0 {
				continue
			}
			if c.aborting {
				smallestClosed = min(smallestClosed, sizeClass(n))
			} else {
				left += n
				largestLeft = max(largestLeft, sizeClass(n))
			}
		}
		if left > int64(budget) {
			t.Fatalf("%d loops, budget %d: %d left", loops, budget, left)
		}
		if smallestClosed < largestLeft {
			t.Fatalf("closed a queue of class %d, kept one of class %d", smallestClosed, largestLeft)
		}
	}
}
