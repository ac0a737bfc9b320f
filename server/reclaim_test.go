package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker/memory"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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

// A node gives memory back by itself after a burst of connections: 1,200
// TCP connections accepted at once, then quiet, make one reclaim, counted
// in chatd_memory_reclaims_total.
func TestReclaimAfterConnectBurst(t *testing.T) {
	s := startServerInternal(t, func(c *Config) { c.ReclaimAfter = 200 * time.Millisecond })
	for i := 0; i < 1200; i++ {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for counterValue(s.metrics.reclaims) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no reclaim 10 s after a burst of 1,200 connections (accepted %d)", s.eng.Accepted())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := counterValue(s.metrics.reclaims); n != 1 {
		t.Fatalf("%v reclaims after one burst", n)
	}
}

// startServerInternal starts a node on a free port with the memory broker,
// with mod applied to its configuration, and stops it when the test ends.
func startServerInternal(t *testing.T, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{Addr: "127.0.0.1:0", Loops: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Broker: memory.New(memory.Options{})}
	mod(&cfg)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}
