package eventloop

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// loop is chatd's side of one gnet event loop: its connections, its outbound
// queue for the current turn, and its mailbox of work posted by other
// goroutines. Fields below "loop only" are touched by the loop's goroutine
// alone.
type loop struct {
	idx   int
	eng   *Engine
	bound atomic.Bool    // gl is set (the loop has seen a connection)
	gl    gnet.EventLoop // written once before bound is set

	// loop only
	conns   []*Conn     // every connection, for the timer sweep
	pend    []pendFrame // frames queued this turn, chained per connection
	dirty   []*Conn     // connections with pending frames
	aborts  []*Conn     // connections to drop at the end of the turn
	iov     [][]byte    // scratch for writev
	current *Conn       // connection whose OnTraffic is running
	closeMe bool        // current must be closed when OnTraffic returns
	// bigTurn is when a turn last used much of a big pend (shrinkIdle).
	bigTurn int64

	// loop only, for plain requests with a body (httpbody.go)
	bodies map[*Conn]*Request // requests waiting for their body

	// loop only, for connections with a deadline (deadline.go)
	deadlines    map[*Conn]deadline
	deadlinePeak int // most entries deadlines had since it was made

	// loop only, for the outbound budget (budget.go)
	sinceMeasure  int64        // bytes flushed since the queues were last measured
	budgetStep    int64        // measure again after this many (0: at the sweep only)
	budgetScratch []queuedConn // connections the budget may close
	// published by the loop when it measures its queues, read by every loop
	queuedHist [numSizeClass]atomic.Int64 // queued bytes by size class

	// loop only, for event streams (stream.go, stream_resume.go)
	ids      []byte      // "id: N" lines built this turn
	idsBusy  int64       // clock of the last turn that filled ids past ctrlArenaMax
	clock    int64       // engine time at the last sweep: a coarse clock for streams' timers
	retained int64       // bytes the loop's streams retain for resumes
	stale    []gnet.Conn // streams' former connections, replaced by a resume: closed at the end of the turn

	// loop only, for peers' pings (pings.go)
	ctrl      []byte // control frames built this turn (pongs)
	pingClock int64  // engine time up to which pings were given back (pingRefill)

	// mailbox, filled from any goroutine
	mu        sync.Mutex
	box       []task
	spare     []task
	scheduled bool
	drainFn   gnet.RunnableFunc
	delay     *time.Timer // with CoalesceDelay: schedules the drain
	sweepFn   gnet.RunnableFunc

	stats loopStats
}

// task is one unit of work posted to a loop: a function to run, a frame for
// one connection, or a frame for every member of an audience on this loop.
type task struct {
	fn      func()
	frame   []byte
	conn    *Conn
	aud     Audience
	exclude *Conn
}

func newLoop(e *Engine, idx int) *loop {
	l := &loop{idx: idx, eng: e, budgetStep: budgetStep(e.cfg.MaxNodeOutboundBytes, e.cfg.Loops)}
	l.drainFn = func(context.Context) error { l.drain(); return nil }
	l.sweepFn = func(context.Context) error { l.sweep(); return nil }
	return l
}

// post appends t to the mailbox and schedules one drain task if none is
// pending: however many tasks arrive before the loop gets to them, they cost
// one wake-up and are written in one batch. It reports false when the loop
// is gone and t was dropped.
func (l *loop) post(t task) bool {
	l.mu.Lock()
	l.box = append(l.box, t)
	wake := !l.scheduled
	l.scheduled = true
	l.mu.Unlock()
	if !wake {
		return true
	}
	if d := l.eng.cfg.CoalesceDelay; d > 0 {
		l.delayTimer(d)
		return true
	}
	return l.kick()
}

// kick hands the drain task to the loop. If the engine is shutting down,
// nothing will be delivered: the mailbox is dropped.
func (l *loop) kick() bool {
	if err := l.gl.Execute(context.Background(), l.drainFn); err != nil {
		l.mu.Lock()
		clear(l.box)
		l.box = l.box[:0]
		l.scheduled = false
		l.mu.Unlock()
		return false
	}
	return true
}

// delayTimer schedules the drain d from now (Config.CoalesceDelay): what
// arrives meanwhile joins the batch, so a connection receiving many frames
// gets them in fewer writes.
func (l *loop) delayTimer(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.delay == nil {
		l.delay = time.AfterFunc(d, func() { l.kick() })
		return
	}
	l.delay.Reset(d)
}

// drain runs the mailbox on the loop.
func (l *loop) drain() {
	l.mu.Lock()
	items := l.box
	l.box, l.spare = l.spare, nil
	l.scheduled = false
	l.mu.Unlock()

	var delivered int64
	for i := range items {
		t := &items[i]
		switch {
		case t.fn != nil:
			t.fn()
		case t.conn != nil:
			_ = t.conn.Write(t.frame)
		case t.aud != nil:
			for _, c := range t.aud.Members(l.idx) {
				if c != t.exclude && c.Write(t.frame) == nil {
					delivered++
				}
			}
		}
		if len(l.pend) >= maxTurnPending {
			// A storm of fan-outs (a join storm's notices): write what is
			// queued now rather than hold hundreds of thousands of frames
			// (and their memory) until the end of the turn. Between tasks
			// only: closing a connection on a write error changes member
			// lists.
			l.flush()
			l.afterFlush()
		}
	}
	if delivered > 0 {
		l.stats.deliveries.Add(delivered)
	}
	clear(items)
	l.mu.Lock()
	if l.spare == nil {
		l.spare = items[:0]
	}
	l.mu.Unlock()
	l.endTurn()
}

// addConn registers a new connection for the timer sweep.
func (l *loop) addConn(c *Conn) {
	c.slot = int32(len(l.conns))
	l.conns = append(l.conns, c)
	l.stats.conns.Add(1)
}

// removeConn forgets a closed connection (swap-delete).
func (l *loop) removeConn(c *Conn) {
	last := l.conns[len(l.conns)-1]
	l.conns[c.slot] = last
	last.slot = c.slot
	l.conns[len(l.conns)-1] = nil
	l.conns = l.conns[:len(l.conns)-1]
	l.stats.conns.Add(-1)
}
