package server

import (
	"net/netip"
	"sync"
	"testing"
)

func TestConnsPerIP(t *testing.T) {
	l := newConnsPerIP(2)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	a1, ok1 := l.acquire(a)
	a2, ok2 := l.acquire(a)
	if !ok1 || !ok2 || a1 == 0 || a1 != a2 {
		t.Fatalf("two from a: slots %d %d ok %v %v", a1, a2, ok1, ok2)
	}
	if _, ok := l.acquire(a); ok {
		t.Fatal("third from a accepted over the limit of 2")
	}
	b1, ok := l.acquire(b)
	if !ok || b1 == a1 {
		t.Fatalf("b refused or shares a's slot: %d %v", b1, ok)
	}
	if n := l.addresses(); n != 2 {
		t.Fatalf("addresses %d, want 2", n)
	}
	l.release(a1)
	if _, ok := l.acquire(a); !ok {
		t.Fatal("a refused after one of its connections closed")
	}
	l.release(a1)
	l.release(a2)
	if n := l.addresses(); n != 1 {
		t.Fatalf("addresses %d after a left, want 1", n)
	}
	// a's slot is reused, so slots grow with distinct addresses at once, not
	// with every address ever seen.
	c := netip.MustParseAddr("192.0.2.3")
	if c1, _ := l.acquire(c); c1 != a1 {
		t.Fatalf("c got slot %d, want a's freed slot %d", c1, a1)
	}
}

func TestConnsPerIPConcurrent(t *testing.T) {
	l := newConnsPerIP(1000)
	a := netip.MustParseAddr("192.0.2.1")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if s, ok := l.acquire(a); ok {
					l.release(s)
				}
			}
		}()
	}
	wg.Wait()
	if n := l.addresses(); n != 0 {
		t.Fatalf("addresses %d after every release, want 0", n)
	}
}
