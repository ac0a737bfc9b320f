package eventloop

import (
	"testing"
	"time"
	"unsafe"
)

// TestIdleConnCost: the abuse limits add no memory to an idle connection.
// Conn fills the allocator's 112-byte size class (it was 104 bytes, rounded
// up to it, before streams' pointer took the rest) and the decoder 16; the
// other new fields live in what was padding.
func TestIdleConnCost(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 112 {
		t.Errorf("Conn is %d bytes, was 112: every connection pays for it (past the 112-byte size class)", n)
	}
	if n := unsafe.Sizeof(decoder{}); n > 16 {
		t.Errorf("decoder is %d bytes, was 16", n)
	}
}

func TestPingRefill(t *testing.T) {
	ms := func(n int64) int64 { return n * int64(time.Millisecond) }
	l := newLoop(&Engine{cfg: Config{PingRate: 10}}, 0)
	for _, step := range []struct{ now, want int64 }{
		{ms(250), 2}, // 2.5 pings earned; the half carries over
		{ms(300), 1},
		{ms(350), 0},
		{ms(400), 1},
		{ms(400) + ms(3600_000), maxPingBurst}, // an hour: capped, and the clock catches up
		{ms(400) + ms(3600_050), 0},
		{ms(400) + ms(3600_100), 1},
	} {
		if got := l.pingRefill(step.now); int64(got) != step.want {
			t.Fatalf("pingRefill(%v) = %d, want %d", time.Duration(step.now), got, step.want)
		}
	}
	off := newLoop(&Engine{cfg: Config{PingRate: -1}}, 0)
	if got := off.pingRefill(ms(10_000)); got != 0 {
		t.Fatalf("no limit: pingRefill = %d", got)
	}
	c := &Conn{pings: 5}
	c.refillPings(2)
	if c.pings != 3 {
		t.Fatalf("pings = %d, want 3", c.pings)
	}
	c.refillPings(maxPingBurst)
	if c.pings != 0 {
		t.Fatalf("pings = %d, want 0", c.pings)
	}
}
