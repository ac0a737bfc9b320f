package eventloop_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/chatd/chatd/eventloop"
)

// The engine's listeners always use SO_REUSEPORT (one per loop), but a port
// is shared only when Config.ReusePort says so: an engine without it fails
// on a port that anything listens on. (An engine WITH it can still join the
// port of one without it: the kernel cannot tell the two apart; listen.go.)
func TestListenExclusiveUnlessShared(t *testing.T) {
	start := func(addr string, shared bool) (*eventloop.Engine, error) {
		e, err := eventloop.Start(eventloop.Config{Addr: addr, Loops: 2, ReusePort: shared,
			Handler: newEchoHandler(), Logger: quietLogger()})
		if err == nil {
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				_ = e.Shutdown(ctx)
			})
		}
		return e, err
	}
	inUse := func(err error) bool { return err != nil && strings.Contains(err.Error(), "address already in use") }

	plain, err := start("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := start(plain.Addr(), false); !inUse(err) {
		t.Errorf("second engine on an exclusive port: %v, want address in use", err)
	}

	a, err := start("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := start(a.Addr(), true)
	if err != nil {
		t.Fatalf("second engine on a shared port: %v", err)
	}
	if b.Addr() != a.Addr() {
		t.Fatalf("shared port: %s and %s", a.Addr(), b.Addr())
	}
	if _, err := start(a.Addr(), false); !inUse(err) {
		t.Errorf("exclusive engine on a shared port: %v, want address in use", err)
	}
	// Both serve: a client lands on one or the other, and it works.
	c := dialWS(t, a)
	c.send(frame(1, []byte("hi")))
	c.expectMessage(1, []byte("hi"))
}

// With port 0, every loop listens on the one port Addr reports: clients
// spread over all the loops (each loop has its own listener; a loop bound
// to another port would get none).
func TestListenPortZeroAllLoops(t *testing.T) {
	h := newEchoHandler()
	e := startEngine(t, h, func(c *eventloop.Config) { c.Loops = 4 })
	dialMany(t, e, 200)
	collectOpen(t, h, 200)
	for i, n := range e.Stats().LoopConns {
		if n == 0 {
			t.Errorf("loop %d got no connection of 200: %v", i, e.Stats().LoopConns)
		}
	}
}

// Engines started at once on port 0 each get a port of their own: no two
// share one (each loop's listener uses SO_REUSEPORT, so a port freed for a
// moment during a start could be picked, and joined, by another).
func TestListenPortZeroParallelStarts(t *testing.T) {
	const n = 64
	addrs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e, err := eventloop.Start(eventloop.Config{Addr: "127.0.0.1:0", Loops: 4,
				Handler: newEchoHandler(), Logger: quietLogger()})
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				_ = e.Shutdown(ctx)
			})
			addrs[i] = e.Addr()
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, a := range addrs {
		if a != "" && seen[a] {
			t.Errorf("two engines share %s", a)
		}
		seen[a] = true
	}
}
