package chat

import "github.com/chatd/chatd/eventloop"

// Allow applies the per-connection rate limit and the drain to one request:
// it reports whether the request may go on, refusing it otherwise with
// refuse(e), unless the connection is closed for abuse (sustained refusals:
// 1008).
func (s *Session) Allow(refuse func(*Error)) bool {
	n := s.node
	cfg := &n.cfg
	now := n.now()
	if !s.rate.allow(now, cfg.RateLimit, cfg.RateBurst) {
		n.m.rateLimited.Inc()
		if s.rate.abusive(now, int64(cfg.RateAbuseWindow), cfg.RateAbuseRefusals) {
			n.m.rateAbuse.Inc()
			s.c.Close(eventloop.ClosePolicy, "rate limit abuse")
			return false
		}
		refuse(ErrRateLimited)
		return false
	}
	if n.draining.Load() {
		refuse(ErrDraining)
		return false
	}
	return true
}
