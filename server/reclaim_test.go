package server

import (
	"testing"
	"time"
)

// reclaimClock drives a reclaimer by hand: events are added, time moves in
// ticks, and free is counted.
type reclaimClock struct {
	t      *testing.T
	r      *reclaimer
	now    time.Time
	events int64
	frees  int
}

func newReclaimClock(t *testing.T, quiet time.Duration) *reclaimClock {
	c := &reclaimClock{t: t, now: time.Unix(1000, 0)}
	c.r = newReclaimer(quiet, func() int64 { return c.events }, func() { c.frees++ })
	c.r.start(c.now)
	return c
}

// run steps the reclaimer every tick for d, adding rate events per second.
func (c *reclaimClock) run(d time.Duration, rate float64) {
	tick := c.r.tick()
	for end := c.now.Add(d); c.now.Before(end); {
		c.now = c.now.Add(tick)
		c.events += int64(rate * tick.Seconds())
		c.r.step(c.now)
	}
}

// A storm's end frees memory once, quiet time after its last join; not
// before, and not again without another storm.
func TestReclaimAfterStorm(t *testing.T) {
	c := newReclaimClock(t, 2*time.Second)
	c.run(5*time.Second, 5000) // 25,000 joins
	if c.frees != 0 {
		t.Fatal("reclaimed during the storm")
	}
	c.run(1500*time.Millisecond, 0)
	if c.frees != 0 {
		t.Fatal("reclaimed before the quiet time")
	}
	c.run(time.Second, 0)
	if c.frees != 1 {
		t.Fatalf("%d reclaims 2.5 s after the storm, want 1", c.frees)
	}
	c.run(2*time.Minute, 0)
	if c.frees != 1 {
		t.Fatalf("%d reclaims without another storm", c.frees)
	}
	// A second storm, after the minimum interval: one more.
	c.run(2*time.Second, 2000)
	c.run(3*time.Second, 0)
	if c.frees != 2 {
		t.Fatalf("%d reclaims after the second storm, want 2", c.frees)
	}
}

// Steady churn under the quiet rate never makes a burst, however long it
// runs; a burst under reclaimBurst events is left to the GC.
func TestReclaimIgnoresTrickles(t *testing.T) {
	c := newReclaimClock(t, 2*time.Second)
	c.run(10*time.Minute, reclaimQuietRate/2)
	if c.frees != 0 {
		t.Fatalf("%d reclaims under steady churn", c.frees)
	}
	c.run(time.Second, reclaimBurst/2) // 500 at 500/s
	c.run(10*time.Second, 0)
	if c.frees != 0 {
		t.Fatalf("%d reclaims after a small burst", c.frees)
	}
}

// Storms back to back reclaim at most once per reclaimMinInterval.
func TestReclaimRateBounded(t *testing.T) {
	c := newReclaimClock(t, 2*time.Second)
	for i := 0; i < 20; i++ { // a storm every 6 s for 2 minutes
		c.run(3*time.Second, 1000)
		c.run(3*time.Second, 0)
	}
	if want := int(2*time.Minute/reclaimMinInterval) + 1; c.frees < 2 || c.frees > want {
		t.Fatalf("%d reclaims in 2 minutes of storms, want 2 to %d", c.frees, want)
	}
}
