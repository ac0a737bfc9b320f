package server

import (
	"fmt"
	"math"
	"net/url"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/auth"
)

// Identity (DESIGN §7, issue 11): with -auth optional or required a
// connection's user comes from a token, a JWT given in the upgrade URL
// (?token=, for v1 clients and any client) or in v2's hello. The token's sub
// is the user id and its name the display name: a client cannot choose
// either. Its rooms claim bounds the rooms the user may join. Without a
// token, -auth optional admits a guest (a random id, a self-declared name)
// who may join only -guest-rooms; -auth required refuses it.

// AuthMode is the authentication mode.
type AuthMode string

// The authentication modes.
const (
	AuthOff      AuthMode = "off"      // no tokens: self-declared names, random ids (the reference app's way)
	AuthOptional AuthMode = "optional" // a valid token names the user; without one, a guest
	AuthRequired AuthMode = "required" // every connection needs a valid token
)

// SystemUserID is the user id of messages published through the server API.
// Tokens naming it are refused, so no client can speak as the system.
const SystemUserID = "system"

// TypeRefresh is the v2 request that replaces a connection's token.
const TypeRefresh = "refresh"

// identityState is the node's authentication state.
type identityState struct {
	verifier *auth.Verifier // nil with AuthOff
	tokens   *tokenRegistry
	m        *authMetrics
	stop     chan struct{}
}

// initIdentity checks the mode and loads the keys.
func (s *Server) initIdentity() error {
	cfg := &s.cfg
	s.ident = &identityState{tokens: newTokenRegistry(), stop: make(chan struct{})}
	s.ident.m = newAuthMetrics(s)
	switch cfg.Auth {
	case AuthOff:
		return nil
	case AuthOptional, AuthRequired:
	default:
		return fmt.Errorf("server: auth mode %q: want off, optional or required", cfg.Auth)
	}
	o := cfg.AuthKeys
	o.MaxUserIDBytes, o.MaxNameBytes, o.MaxRoomIDBytes = cfg.MaxUserIDBytes, cfg.MaxUsernameBytes, cfg.MaxRoomIDBytes
	setDefault(&o.MaxTokenBytes, DefaultMaxTokenBytes)
	setDefault(&o.MaxRooms, DefaultMaxTokenRooms)
	setDefault(&o.Leeway, DefaultJWTLeeway)
	o.Leeway = max(o.Leeway, 0)
	if o.Logger == nil {
		o.Logger = cfg.Logger
	}
	v, err := auth.New(o)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.ident.verifier = v
	return nil
}

// ReloadKeys re-reads the token key files (chatd calls it on SIGHUP). A
// failed reload keeps the keys in use.
func (s *Server) ReloadKeys() error {
	if s.ident.verifier == nil {
		return nil
	}
	return s.ident.verifier.Reload()
}

// verifyToken checks a token, counting and logging (at debug, without the
// token) a refusal.
func (s *Server) verifyToken(token, via string) (*auth.Claims, error) {
	c, err := s.ident.verifier.Verify(token)
	if err == nil && c.UserID == SystemUserID {
		err = &auth.Error{Reason: auth.ReasonClaims}
	}
	if err != nil {
		r := auth.ReasonOf(err)
		s.ident.m.refused(r)
		s.cfg.Logger.Debug("token refused", "via", via, "reason", string(r), "err", err)
		return nil, err
	}
	s.ident.m.accepted.Inc()
	return c, nil
}

// deadline is when a token's connection is closed: exp plus the leeway that
// verification allows.
func (s *Server) deadline(c *auth.Claims) int64 {
	return deadlineOf(c.Expires, s.ident.verifier.Leeway())
}

// deadlineOf is exp plus leeway in Unix nanoseconds, capped where those
// overflow (an exp centuries ahead must not wrap into the past).
func deadlineOf(exp time.Time, leeway time.Duration) int64 {
	d := exp.Add(leeway)
	if d.After(maxDeadline) {
		return math.MaxInt64
	}
	return d.UnixNano()
}

// maxDeadline is the last time UnixNano can represent, with margin.
var maxDeadline = time.Unix(0, math.MaxInt64).Add(-time.Hour)

// admit verifies the upgrade URL's token, recording its user in claim. A
// bad token is refused with 401 before the upgrade, whatever the protocol;
// so is a v1 upgrade without a token under AuthRequired (a v2 one may still
// bring its token in hello).
func (h *handler) admit(r *eventloop.Request, claim *upgradeClaim) *eventloop.Response {
	s := (*Server)(h)
	token := ""
	if s.cfg.Auth != AuthOff && r.RawQuery != "" {
		if q, err := url.ParseQuery(r.RawQuery); err == nil {
			token = q.Get("token")
		}
	}
	if token == "" {
		if s.cfg.Auth == AuthRequired && !claim.v2 {
			s.ident.m.refused(auth.ReasonMissing)
			return unauthorizedResponse(auth.ReasonMissing)
		}
		return nil
	}
	claims, err := s.verifyToken(token, "url")
	if err != nil {
		return unauthorizedResponse(auth.ReasonOf(err))
	}
	claim.claims = claims
	return nil
}

// unauthorizedResponse is the 401 of a refused upgrade: the reason, never
// the token.
func unauthorizedResponse(r auth.Reason) *eventloop.Response {
	return &eventloop.Response{Status: 401,
		Header: []eventloop.HeaderField{{Name: "WWW-Authenticate", Value: `Bearer error="invalid_token"`}},
		Body:   []byte("unauthorized: token " + string(r) + "\n")}
}

// open applies what Upgrade learned (the connection's value) to a new
// session: its protocol, its per-address slot and, with a URL token, its
// user.
func (s *session) open(v any) {
	claim, _ := v.(upgradeClaim)
	s.v2, s.ipSlot = claim.v2, claim.ipSlot
	claims := claim.claims
	switch {
	case claims != nil:
		s.setToken(claims)
		if !s.v2 {
			s.userID, s.name = claims.UserID, claims.Name
		}
	case s.srv.cfg.Auth == AuthOptional && !s.v2:
		s.guest = true
	}
}

// setToken records the connection's token (for its rooms and its expiry).
func (s *session) setToken(c *auth.Claims) {
	s.authed = true
	s.srv.ident.tokens.set(s, c, s.srv.deadline(c))
}

// helloIdentity settles a v2 connection's user at hello (auth on): from
// hello's token, else from the URL's, else a guest (AuthOptional). It
// reports false when the hello was refused: the connection then closes 1008.
func (s *session) helloIdentity(req *RequestV2) bool {
	if req.Token != "" {
		c, err := s.srv.verifyToken(req.Token, "hello")
		if err != nil {
			s.refuseHello(req, auth.ReasonOf(err))
			return false
		}
		s.setToken(c)
		s.userID, s.name = c.UserID, c.Name
		return true
	}
	if s.authed {
		e, _ := s.srv.ident.tokens.lookup(s)
		s.userID, s.name = e.user, e.name
		return true
	}
	if s.srv.cfg.Auth == AuthRequired {
		s.srv.ident.m.refused(auth.ReasonMissing)
		s.refuseHello(req, auth.ReasonMissing)
		return false
	}
	s.guest = true
	return true
}

// refuseHello answers unauthorized and closes the connection (1008).
func (s *session) refuseHello(req *RequestV2, r auth.Reason) {
	msg := "Invalid token (" + string(r) + ")"
	if r == auth.ReasonMissing {
		msg = "A token is required"
	}
	s.replyError(req.ID, reqErr(CodeUnauthorized, msg))
	s.c.Close(eventloop.ClosePolicy, "unauthorized")
}

// joinAllowed checks a join against the token's rooms, or -guest-rooms for
// a guest. With AuthOff every room is allowed.
func (s *session) joinAllowed(room string) *requestError {
	switch {
	case s.authed:
		if e, _ := s.srv.ident.tokens.lookup(s); e.rooms.Allows(room) {
			return nil
		}
	case s.guest:
		if s.srv.cfg.GuestRooms.Allows(room) {
			return nil
		}
	case s.srv.cfg.Auth == AuthOff:
		return nil
	}
	return reqErr(CodeForbidden, "Not allowed in room "+room)
}

// refreshV2 replaces the connection's token before it expires: the new one
// must name the same user. Its exp and rooms apply from now on (rooms
// already joined stay joined); the name stays the hello's.
func (s *session) refreshV2(req *RequestV2) {
	if !s.authed {
		s.replyError(req.ID, reqErr(CodeForbidden, "This connection has no token to refresh"))
		return
	}
	if req.Token == "" {
		s.replyError(req.ID, missing("token"))
		return
	}
	c, err := s.srv.verifyToken(req.Token, "refresh")
	if err != nil {
		s.replyError(req.ID, reqErr(CodeUnauthorized, "Invalid token ("+string(auth.ReasonOf(err))+")"))
		return
	}
	if c.UserID != s.userID {
		s.replyError(req.ID, reqErr(CodeForbidden, "The token is for another user"))
		return
	}
	s.setToken(c)
	s.srv.ident.m.refreshes.Inc()
	s.replyOK(req.ID)
}

// disconnectIdentity forgets the connection's token.
func (s *session) disconnectIdentity() {
	if s.authed {
		s.srv.ident.tokens.remove(s)
	}
}

// startExpiry sweeps the token registry every TokenSweep and closes (4001)
// the connections whose token expired, on their loops.
func (s *Server) startExpiry() {
	if s.ident.verifier == nil {
		return
	}
	go func() {
		t := time.NewTicker(s.cfg.TokenSweep)
		defer t.Stop()
		for {
			select {
			case <-s.ident.stop:
				return
			case now := <-t.C:
				for _, sess := range s.ident.tokens.expired(now.UnixNano()) {
					sess.exec(func() { sess.expire() })
				}
			}
		}
	}()
}

// expire closes the connection if its token is still the expired one.
func (s *session) expire() {
	if s.closed {
		return
	}
	e, ok := s.srv.ident.tokens.lookup(s)
	if !ok || e.deadline > time.Now().UnixNano() {
		return // refreshed meanwhile
	}
	s.srv.ident.m.expiryCloses.Inc()
	s.c.Close(eventloop.CloseTokenExpired, "token expired")
}

// stopIdentity stops the expiry sweep and the key file watch.
func (s *Server) stopIdentity() {
	select {
	case <-s.ident.stop:
	default:
		close(s.ident.stop)
	}
	if s.ident.verifier != nil {
		s.ident.verifier.Close()
	}
}
