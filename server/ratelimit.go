package server

// tokenBucket is a per-connection rate limiter: rate tokens per second up to
// burst. It is touched only on the connection's loop.
type tokenBucket struct {
	tokens   float64
	last     int64 // ns, the server clock
	refused  int   // refusals in the current abuse window
	winStart int64 // ns
}

// allow takes a token at time now (ns) and reports whether one was there.
func (b *tokenBucket) allow(now int64, rate float64, burst int) bool {
	if rate < 0 {
		return true
	}
	if b.last == 0 {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+float64(now-b.last)*rate/1e9)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// abusive records a refusal at now and reports whether refusals within the
// window reached limit.
func (b *tokenBucket) abusive(now, window int64, limit int) bool {
	if now-b.winStart > window {
		b.winStart, b.refused = now, 0
	}
	b.refused++
	return b.refused >= limit
}
