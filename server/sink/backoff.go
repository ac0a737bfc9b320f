package sink

import (
	"math/rand/v2"
	"time"
)

// backoff is the wait before the next retry: it doubles from min at each
// failure up to max, and each wait is drawn in [d/2, d] (equal jitter), so
// that the nodes retrying toward one backend spread out.
type backoff struct {
	min, max time.Duration
	cur      time.Duration // the cap of the next wait; 0: min
	rnd      func() float64
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, rnd: rand.Float64}
}

// next returns the wait before the next attempt and doubles the one after.
func (b *backoff) next() time.Duration {
	d := b.cur
	if d == 0 {
		d = b.min
	}
	if d > b.max {
		d = b.max
	}
	b.cur = min(d*2, b.max)
	half := d / 2
	return half + time.Duration(b.rnd()*float64(d-half))
}

// reset starts again from min (after a success).
func (b *backoff) reset() { b.cur = 0 }
