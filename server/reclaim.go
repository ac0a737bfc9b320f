package server

import (
	"context"
	"runtime/debug"
	"time"
)

// Giving memory back after a burst. A join storm (a deploy, a neighbour's
// crash) leaves the heap at its peak: the handshakes' and joins' garbage,
// and the GC's headroom above the live data (-gc-percent). Go returns the
// difference to the OS only slowly, so RSS stays near the storm's peak long
// after it (issue 22). Once a burst of connections and joins is over, the
// node runs one full GC that returns the free memory to the OS
// (debug.FreeOSMemory), off the event loops.

const (
	// reclaimBurst is how many connections accepted plus joins make a burst
	// worth a reclaim (a few MB of garbage); fewer are left to the GC.
	reclaimBurst = 1000
	// reclaimQuietRate is the rate (connections plus joins per second) under
	// which a burst counts as over.
	reclaimQuietRate = 100
	// reclaimMinInterval bounds the reclaims to one per this: a full GC of
	// a big heap costs CPU (~10 ms at 18,000 connections, more with the
	// heap), and a node whose storms come and go must not run one every few
	// seconds. Short enough that a storm that paused (a reclaim) and went on
	// is reclaimed again soon after its end.
	reclaimMinInterval = 10 * time.Second
)

// reclaimer watches a count of events (connections accepted, joins) and
// calls free once a burst is over: at least reclaimBurst events at or over
// reclaimQuietRate since the last reclaim, then the rate under it for quiet
// (the -reclaim-after flag), at most once per minInterval.
type reclaimer struct {
	quiet       time.Duration
	minInterval time.Duration
	events      func() int64
	free        func()

	last       int64     // events at the last step
	burst      int64     // events since the last reclaim
	quietSince time.Time // when the rate last was at or over reclaimQuietRate
	lastStep   time.Time
	lastFree   time.Time
	reclaims   int
}

func newReclaimer(quiet time.Duration, events func() int64, free func()) *reclaimer {
	return &reclaimer{quiet: quiet, minInterval: reclaimMinInterval, events: events, free: free}
}

// tick is how often the reclaimer looks: a quarter of the quiet time, at
// least 100 ms.
func (r *reclaimer) tick() time.Duration { return max(r.quiet/4, 100*time.Millisecond) }

// run steps every tick until ctx ends.
func (r *reclaimer) run(ctx context.Context) {
	t := time.NewTicker(r.tick())
	defer t.Stop()
	r.start(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.step(now)
		}
	}
}

// start takes the count at now as the baseline.
func (r *reclaimer) start(now time.Time) {
	r.last, r.lastStep, r.quietSince = r.events(), now, now
}

// step looks at the events since the last step and reclaims if a burst
// just ended; it reports whether it did.
func (r *reclaimer) step(now time.Time) bool {
	n := r.events()
	d := n - r.last
	r.last = n
	dt := now.Sub(r.lastStep)
	r.lastStep = now
	if dt <= 0 || float64(d) >= reclaimQuietRate*dt.Seconds() {
		// Busy: the events count towards a burst (a steady trickle under
		// the quiet rate never makes one).
		r.burst += d
		r.quietSince = now
		return false
	}
	if r.burst < reclaimBurst || now.Sub(r.quietSince) < r.quiet ||
		(!r.lastFree.IsZero() && now.Sub(r.lastFree) < r.minInterval) {
		return false
	}
	r.free()
	r.burst, r.lastFree = 0, now
	r.reclaims++
	return true
}

// startReclaimer runs the reclaimer until the node stops, unless
// ReclaimAfter is negative.
func (s *Server) startReclaimer() {
	if s.cfg.ReclaimAfter < 0 {
		return
	}
	r := newReclaimer(s.cfg.ReclaimAfter, func() int64 { return s.eng.Accepted() + s.node.Joins() }, func() {
		debug.FreeOSMemory()
		s.metrics.reclaims.Inc()
	})
	go r.run(s.ctx)
}
