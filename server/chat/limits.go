package chat

import "github.com/chatd/chatd/eventloop"

// The request limits: per connection (the session's own bucket), per user
// across its connections on this node (users named by a token or the
// connect hook; anonymous users are one connection each), and per client address across
// its connections on this node. Past any of them a request is refused with
// rate_limited (the text says which), and a connection that keeps being
// refused is closed (1008).

// The refusals of the shared limits.
var (
	errTooManyNewRooms = Errorf(CodeRateLimited, "Too many new rooms, slow down")
	ErrUserRateLimited = Errorf(CodeRateLimited, "Too many messages from this user, slow down")
	ErrAddrRateLimited = Errorf(CodeRateLimited, "Too many messages from this address, slow down")
)

// Allow applies the request limits and the drain to one request: it reports
// whether the request may go on, refusing it otherwise with refuse(e),
// unless the connection is closed for abuse (sustained refusals: 1008).
func (s *Session) Allow(refuse func(*Error)) bool {
	n := s.node
	now := n.now()
	var e *Error
	switch {
	case !s.rate.allow(now, n.cfg.RateLimit, n.cfg.RateBurst):
		e = ErrRateLimited
	case s.Named() && !n.userLimit.allow(n.userLimit.keyString(s.UserID()), now):
		e = ErrUserRateLimited
	case !n.addrLimit.allow(s.addrKey, now):
		e = ErrAddrRateLimited
	case n.draining.Load():
		refuse(ErrDraining)
		return false
	default:
		return true
	}
	n.m.rateLimited.Inc()
	if s.rate.abusive(now, int64(n.cfg.RateAbuseWindow), n.cfg.RateAbuseRefusals) {
		n.m.rateAbuse.Inc()
		s.c.Close(eventloop.ClosePolicy, "rate limit abuse")
		return false
	}
	refuse(e)
	return false
}

// mayCreate takes one room creation from the session's allowance: its
// user's (a user named by a token or the connect hook) or its address's. Rooms cost the cluster
// memory beyond their members' stay (their history lives -history-age after
// the last message), so what one user or address creates over time is
// bounded. Any goroutine: the tables are locked.
func (s *Session) mayCreate() bool {
	n := s.node
	now := n.now()
	if s.Named() {
		return n.createByUser.allow(n.createByUser.keyString(s.UserID()), now)
	}
	return n.createByAddr.allow(s.addrKey, now)
}
