package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// runShared is what the runner and its loops share. Fields are written by the runner before it
// posts the task that makes loops read them (the task queue's mutex orders the two), and are
// read-only afterwards; the countdowns are safe for concurrent use.
type runShared struct {
	cfg     *Config
	lay     layout
	sched   schedule
	targets []*target
	srcs    []unix.SockaddrInet4
	dialSem chan struct{}
	prefix  []byte

	v2          bool   // protocol v2 (session_v2.go)
	subprotocol string // offered in the upgrade: chatd.v2 for v2
	k           int    // rooms per member
	recovery    bool   // the recovery workload: joins need history, outages happen

	joinCD, settleCD, sendCD, finalCD *countdown
	churners                          sync.WaitGroup // churn cycles dialed and not yet ended

	roomJoined    []int64  // joined members per room, all processes
	finalsPerRoom []uint32 // members per room that will send a last message
	startNs       int64
	measureNs     int64
}

func newShared(cfg *Config) (*runShared, error) {
	sh := &runShared{
		cfg: cfg, lay: cfg.layout(), sched: cfg.schedule(),
		dialSem: make(chan struct{}, cfg.DialConcurrency),
		prefix:  []byte(cfg.RoomPrefix + "-"),
		v2:      cfg.Proto == "v2",
		k:       max(1, cfg.RoomsPerClient),
	}
	if sh.v2 {
		sh.subprotocol = subprotocolV2
	}
	sh.recovery = cfg.Workload == "recovery"
	for _, u := range cfg.URLs {
		t, err := parseTarget(u)
		if err != nil {
			return nil, err
		}
		sh.targets = append(sh.targets, t)
	}
	srcs, err := parseSrc(cfg.Src)
	if err != nil {
		return nil, err
	}
	// Each process binds its own share of the source addresses, so the processes do not compete
	// for the same ephemeral ports.
	if len(srcs) >= cfg.Procs {
		for j := cfg.ProcIndex; j < len(srcs); j += cfg.Procs {
			sh.srcs = append(sh.srcs, srcs[j])
		}
	} else {
		sh.srcs = srcs
	}
	return sh, nil
}

// Coordinator is where one process's run meets the others' at the phase boundaries. The single
// process coordinates with itself; a -procs child talks to its parent over pipes.
type Coordinator interface {
	// Joined reports the members of this process that failed to join and returns the failures
	// of all processes, once every process is done joining.
	Joined(ctx context.Context, failed []int) ([]int, error)
	// Settled reports when this process's members all saw their rooms full (ok false: timed
	// out) and returns the common start time of the send phase.
	Settled(ctx context.Context, atNs int64, ok bool) (startNs int64, err error)
	// Drained reports the end of the drain wait and returns when every process is there.
	Drained(ctx context.Context) error
	// Progress receives a snapshot every -progress interval.
	Progress(s *Snapshot)
}

// Snapshot is a process's state for the progress line.
type Snapshot struct {
	Proc     int      `json:"proc"`
	Phase    string   `json:"phase"`
	Open     int      `json:"open"`
	Counters Counters `json:"counters"`
	Latency  *Hist    `json:"latency"`
}

// runner drives one process's share of a run through its phases.
type runner struct {
	cfg    *Config
	sh     *runShared
	co     Coordinator
	loops  []*loop
	raw    *Raw
	lo, hi int
	phase  atomic.Value // string
	cpu0   float64
}

// Run executes this process's share of the workload (members [lo,hi) of the layout) and returns
// its raw result. A cancelled ctx ends the run early with Interrupted set.
func Run(ctx context.Context, cfg *Config, co Coordinator) (*Raw, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sh, err := newShared(cfg)
	if err != nil {
		return nil, err
	}
	rn := &runner{cfg: cfg, sh: sh, co: co, raw: newRaw(cfg.ProcIndex, cfg.Rooms), cpu0: selfCPU()}
	rn.lo, rn.hi = sh.lay.owned(cfg.ProcIndex, cfg.Procs)
	rn.phase.Store("connect")
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(i, sh)
		if err != nil {
			rn.stopLoops()
			return nil, err
		}
		rn.loops = append(rn.loops, l)
		go l.run()
	}
	stopProgress := rn.startProgress()
	err = rn.phases(ctx)
	stopProgress()
	rn.stopLoops()
	rn.collect()
	if ctx.Err() != nil {
		rn.raw.Interrupted = true
		err = nil
	}
	return rn.raw, err
}

func (rn *runner) phases(ctx context.Context) error {
	cfg, sh, raw := rn.cfg, rn.sh, rn.raw

	// Connect and join, at most DialConcurrency connections in flight.
	sh.joinCD = newCountdown(rn.hi - rn.lo)
	raw.JoinStartNs = wallNow()
	dialCtx, cancelDial := context.WithCancel(ctx)
	dialed := make(chan int, 1)
	go func() { dialed <- rn.dialMembers(dialCtx) }()
	waitFor(ctx, sh.joinCD.done, cfg.JoinTimeout)
	cancelDial()
	n := <-dialed
	raw.NotDialed = uint64(rn.hi - rn.lo - n)
	rn.onLoops(func(l *loop) { l.failPending() })
	raw.JoinEndNs = wallNow()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var failed []int
	var joined int
	var noHistory uint64
	rn.onLoops(func(l *loop) {
		noHistory += l.st.NoHistory
		for _, c := range l.members {
			if c.failed {
				failed = append(failed, c.idx)
			}
			if c.joined {
				joined++
			}
		}
	})
	for i := rn.lo + n; i < rn.hi; i++ {
		failed = append(failed, i)
	}
	if noHistory > 0 {
		return fmt.Errorf("%s (%d of %d members)", errNoHistory, noHistory, rn.hi-rn.lo)
	}
	allFailed, err := rn.co.Joined(ctx, failed)
	if err != nil {
		return fmt.Errorf("join barrier: %w", err)
	}
	sh.roomJoined = roomJoinedCounts(sh.lay, allFailed)
	sh.finalsPerRoom = finalsPerRoom(sh.lay, sh.sched, allFailed)

	// Settle: every member has seen its room full, i.e. every join was announced to it.
	settledAt, settleOK := wallNow(), true
	if cfg.WaitNotices {
		rn.phase.Store("settle")
		sh.settleCD = newCountdown(joined)
		rn.onLoops(func(l *loop) { l.armSettle() })
		settleOK = waitFor(ctx, sh.settleCD.done, cfg.SettleTimeout)
		settledAt = wallNow()
	}
	raw.SettledNs, raw.SettleOK = settledAt, settleOK
	if ctx.Err() != nil {
		return ctx.Err()
	}
	startNs, err := rn.co.Settled(ctx, settledAt, settleOK)
	if err != nil {
		return fmt.Errorf("settle barrier: %w", err)
	}

	// Send: loops send on the shared schedule from startNs on.
	sh.startNs, sh.measureNs = startNs, startNs+int64(cfg.Warmup)
	sh.sendCD, sh.finalCD = newCountdown(joined), newCountdown(joined)
	rn.onLoops(func(l *loop) { l.armStart() })
	sleepUntil(ctx, startNs)
	rn.phase.Store("send")
	raw.StartNs = startNs
	cpuStart := selfCPU()
	windowEnd := startNs + sh.sched.window
	var churnDone, outagesDone chan struct{}
	if cfg.ChurnRate > 0 {
		churnDone = make(chan struct{})
		go func() { defer close(churnDone); rn.churn(ctx, windowEnd) }()
	}
	if sh.recovery {
		plan := rn.planOutages()
		outagesDone = make(chan struct{})
		go func() { defer close(outagesDone); rn.outages(ctx, plan) }()
	}
	<-orDone(ctx, sh.sendCD.done)
	if outagesDone != nil {
		<-outagesDone // all were due before the last send (planOutages), or ctx ended
	}
	// A -count run ends when every message is out; otherwise the window is the bound (and idle
	// holds its connections for it).
	if cfg.Count == 0 || cfg.ChurnRate > 0 {
		sleepUntil(ctx, windowEnd)
	}
	if churnDone != nil {
		<-churnDone
		// Let the cycles in flight finish, so every dialed cycle ends counted as done or failed.
		// Each is bounded by its own connect, join and close deadlines.
		allEnded := make(chan struct{})
		go func() { sh.churners.Wait(); close(allEnded) }()
		waitFor(ctx, allEnded, 2*cfg.ConnectTimeout+time.Duration(closeGraceNs)+time.Second)
	}
	raw.SendEndNs = wallNow()

	// Drain: wait for every receiver to have the last message of every sender of its room.
	rn.phase.Store("drain")
	raw.DrainComplete = waitFor(ctx, sh.finalCD.done, cfg.Drain)
	raw.DrainEndNs = wallNow()
	raw.LoadCPUSec = selfCPU() - cpuStart
	rn.onLoops(func(l *loop) { l.frozen = true })
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := rn.co.Drained(ctx); err != nil {
		return fmt.Errorf("drain barrier: %w", err)
	}
	if cfg.Hold > 0 {
		rn.phase.Store("hold")
		waitFor(ctx, nil, cfg.Hold) // a nil channel never fires: the time (or ctx) ends it
	}
	rn.phase.Store("close")
	return nil
}

// dialMembers hands this process's members to the loops, one dial slot each; it returns how many
// it handed out before ctx ended.
func (rn *runner) dialMembers(ctx context.Context) int {
	sh := rn.sh
	for i := rn.lo; i < rn.hi; i++ {
		select {
		case sh.dialSem <- struct{}{}:
		case <-ctx.Done():
			return i - rn.lo
		}
		k := i - rn.lo
		c := &conn{fd: -1, heapIdx: -1, holdsToken: true, idx: i, room: sh.lay.room(i), pos: sh.lay.pos(i),
			tgt: sh.targets[sh.lay.url(i)]}
		if sh.k > 1 {
			c.more = make([]slot, sh.k-1)
		}
		if len(sh.srcs) > 0 {
			c.src = &sh.srcs[k%len(sh.srcs)]
		}
		l := rn.loops[k%len(rn.loops)]
		l.post(func() { l.dialMember(c) })
	}
	return rn.hi - rn.lo
}

// onLoops runs fn on every loop, one after the other, and waits.
func (rn *runner) onLoops(fn func(l *loop)) {
	for _, l := range rn.loops {
		l.sync(func() { fn(l) })
	}
}

// stopLoops closes every connection politely (bounded) and waits for the loops to exit.
func (rn *runner) stopLoops() {
	const grace = 2 * time.Second
	for _, l := range rn.loops {
		l.post(func() { l.beginStop(int64(grace)) })
	}
	for _, l := range rn.loops {
		<-l.done
	}
}

// collect reads the loops' counts and members after the loops have exited.
func (rn *runner) collect() {
	raw := rn.raw
	for _, l := range rn.loops {
		raw.Counters.add(&l.st)
		raw.Latency.Merge(l.lat)
		raw.EchoLatency.Merge(l.echoLat)
		raw.JoinLatency.Merge(l.joinLat)
		raw.ChurnLatency.Merge(l.churnLat)
		raw.AckLatency.Merge(l.ackLat)
		raw.ReconnectLatency.Merge(l.reconnLat)
		for k, v := range l.errs {
			raw.Errors[k] += v
		}
		for k, v := range l.closeCodes {
			raw.CloseCodes[k] += v
		}
		if l.fatal != nil {
			raw.Errors[l.fatal.Error()]++
		}
		for _, c := range l.members {
			if c.joined {
				rn.collectMember(c)
			}
		}
	}
	raw.LoadCPUTotalSec = selfCPU()
}

// collectMember adds a joined member's per-room totals: what it published to each of its rooms
// and, as a receiver, the holes left in its streams and its offset ledger.
func (rn *runner) collectMember(c *conn) {
	raw, lay, k := rn.raw, rn.sh.lay, rn.sh.k
	for j := 0; j < k; j++ {
		r := lay.roomOf(c.idx, j)
		n := uint64(streamCount(c.sent, j, k))
		raw.RoomSent[r] += n
		if !c.receiver {
			continue
		}
		s := c.slot(j)
		raw.RoomReceivers[r]++
		raw.RoomSelfSent[r] += n
		raw.Holes += s.track.missing()
		if s.off != nil && !s.off.broken {
			hi, distinct := s.off.seenUpTo()
			raw.OffsetDistinct += distinct
			raw.RoomMaxOffset[r] = max(raw.RoomMaxOffset[r], hi)
		}
	}
}

// startProgress sends a snapshot to the coordinator every -progress interval.
func (rn *runner) startProgress() (stop func()) {
	if rn.cfg.Progress <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(rn.cfg.Progress)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				rn.co.Progress(rn.snapshot())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (rn *runner) snapshot() *Snapshot {
	s := &Snapshot{Proc: rn.cfg.ProcIndex, Phase: rn.phase.Load().(string), Latency: NewHist()}
	rn.onLoops(func(l *loop) {
		s.Counters.add(&l.st)
		s.Latency.Merge(l.lat)
		s.Open += l.open
	})
	return s
}

// finalsPerRoom counts, per room, the joined members that will send at least one message: a
// receiver is done when it has the last message of each of them (its own echo included).
func finalsPerRoom(lay layout, s schedule, failed []int) []uint32 {
	isFailed := make(map[int]bool, len(failed))
	for _, i := range failed {
		isFailed[i] = true
	}
	out := make([]uint32, lay.rooms)
	for i := 0; i < lay.members; i++ {
		if isFailed[i] {
			continue
		}
		n := s.planned(i)
		for j := 0; j < lay.k(); j++ {
			if streamCount(n, j, lay.k()) > 0 {
				out[lay.roomOf(i, j)]++
			}
		}
	}
	return out
}

// waitFor waits for ch, at most d; it reports whether ch was closed.
func waitFor(ctx context.Context, ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// orDone returns a channel closed when ch or ctx is done.
func orDone(ctx context.Context, ch <-chan struct{}) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		defer close(out)
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}()
	return out
}

// sleepUntil sleeps until the wall clock reaches ns (or ctx ends).
func sleepUntil(ctx context.Context, ns int64) {
	d := time.Duration(ns - wallNow())
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
