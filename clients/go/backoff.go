package chatdclient

import (
	"math/rand/v2"
	"time"
)

// backoffDelay is the wait before reconnect attempt n (0 for the first after
// a drop): exponential steps from lo, capped at hi, with "equal jitter" — half
// the step fixed, half random (r in [0,1)) — so that the many clients of a
// restarted node do not all come back in the same instant, and none comes
// back at once.
func backoffDelay(n int, lo, hi time.Duration, r float64) time.Duration {
	step := lo
	for i := 0; i < n && step < hi; i++ {
		step *= 2
	}
	step = min(step, hi)
	return step/2 + time.Duration(r*float64(step/2))
}

// jitter is the random source of the backoff.
func jitter() float64 { return rand.Float64() }
