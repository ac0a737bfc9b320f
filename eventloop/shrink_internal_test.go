package eventloop

import (
	"testing"
	"time"
)

// A loop gives back the queue of a burst once its turns have stayed small
// for a while (idle loops included), and keeps it while turns stay big (no
// allocation per turn on the hot path).
func TestShrinkQueues(t *testing.T) {
	e := &Engine{base: time.Now()}
	l := &loop{eng: e}
	turn := func(n int) {
		for i := 0; i < n; i++ {
			l.pend = append(l.pend, pendFrame{next: -1})
		}
		l.shrinkQueues()
	}
	turn(100000) // a burst
	big := cap(l.pend)
	l.shrinkIdle(l.bigTurn + int64(shrinkAfter) - 1)
	if cap(l.pend) != big {
		t.Fatal("released before shrinkAfter")
	}
	for i := 0; i < 100; i++ {
		turn(90000) // steady big turns
	}
	l.shrinkIdle(l.bigTurn + int64(shrinkAfter)/2)
	if cap(l.pend) != big {
		t.Fatalf("steady big turns: cap %d, want the burst's %d kept", cap(l.pend), big)
	}
	turn(10) // a small turn does not count as big
	l.shrinkIdle(l.bigTurn + int64(shrinkAfter) + 1)
	if cap(l.pend) > maxKeptPending {
		t.Fatalf("after %v without a big turn: cap %d still", shrinkAfter, cap(l.pend))
	}
	turn(10) // and it works on
	if len(l.pend) != 0 {
		t.Fatal("not emptied")
	}
}
