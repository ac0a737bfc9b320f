package chat

// tokenBucket is a per-connection rate limiter: rate tokens per second up to
// burst. It is touched only on the connection's loop. It keeps 16 bytes per
// connection: times are milliseconds of the server clock in 32 bits (their
// differences stay right across the wrap, every 49 days).
type tokenBucket struct {
	tokens   float32
	last     uint32 // ms; 0: never used
	winStart uint32 // ms, start of the abuse window
	refused  uint32 // refusals in the abuse window
}

// allow takes a token at time now (ns) and reports whether one was there.
func (b *tokenBucket) allow(now int64, rate float64, burst int) bool {
	if rate < 0 {
		return true
	}
	ms := uint32(now/1e6) | 1 // never 0, which means "unused"
	if b.last == 0 {
		b.tokens = float32(burst)
	} else {
		b.tokens = min(float32(burst), b.tokens+float32(float64(ms-b.last)*rate/1e3))
	}
	b.last = ms
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// abusive records a refusal at now (ns) and reports whether refusals within
// the window (ns) reached limit.
func (b *tokenBucket) abusive(now, window int64, limit int) bool {
	ms := uint32(now / 1e6)
	if ms-b.winStart > uint32(window/1e6) {
		b.winStart, b.refused = ms, 0
	}
	b.refused++
	return b.refused >= uint32(limit)
}

// full reports whether the bucket would be full at now (ns): unused for a
// while, so it can be forgotten.
func (b *tokenBucket) full(now int64, rate float64, burst int) bool {
	if b.last == 0 {
		return true
	}
	ms := uint32(now/1e6) | 1
	return float64(b.tokens)+float64(ms-b.last)*rate/1e3 >= float64(burst)
}
