package sink

import (
	"testing"
	"time"
)

// The waits double from min to max, each drawn in [d/2, d], and a reset
// starts again from min.
func TestBackoffDoublesCappedJittered(t *testing.T) {
	b := newBackoff(100*time.Millisecond, time.Second)
	b.rnd = func() float64 { return 1 } // the top of each range
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.next(); got != w*time.Millisecond {
			t.Fatalf("wait %d: %v, want %v", i, got, w*time.Millisecond)
		}
	}
	b.reset()
	b.rnd = func() float64 { return 0 } // the bottom
	if got := b.next(); got != 50*time.Millisecond {
		t.Fatalf("after reset, bottom of the first range: %v, want 50ms", got)
	}
	if got := b.next(); got != 100*time.Millisecond {
		t.Fatalf("bottom of the second range: %v, want 100ms", got)
	}
	// Real jitter stays in range.
	b = newBackoff(10*time.Millisecond, 40*time.Millisecond)
	for i := range 200 {
		d := b.next()
		if d < 5*time.Millisecond || d > 40*time.Millisecond {
			t.Fatalf("wait %d: %v outside [5ms, 40ms]", i, d)
		}
	}
}
