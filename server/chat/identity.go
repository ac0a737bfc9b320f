package chat

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/auth"
)

// Identity: with -auth optional or required a connection's user comes from
// a token, a JWT given by the carrier before the upgrade (the URL's
// ?token=, for v1 clients and any client) or by the protocol (v2's hello).
// The token's sub is the user id and its name the display name: a client
// cannot choose either. Its rooms claim bounds the rooms the user may join.
// Without a token, -auth optional admits a guest (a random id, a
// self-declared name) who may join only -guest-rooms; -auth required
// refuses it. With -auth off (the reference app's way) names are
// self-declared and ids random per connection.

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

// identity is the node's authentication state.
type identity struct {
	verifier *auth.Verifier // nil with AuthOff
	tokens   *tokenRegistry
}

// initIdentity checks the mode and loads the keys.
func (n *Node) initIdentity() error {
	cfg := &n.cfg
	n.ident = &identity{tokens: newTokenRegistry()}
	switch cfg.Auth {
	case AuthOff:
		return nil
	case AuthOptional, AuthRequired:
	default:
		return fmt.Errorf("server: auth mode %q: want off, optional or required", cfg.Auth)
	}
	o := cfg.AuthKeys
	o.MaxUserIDBytes, o.MaxNameBytes, o.MaxRoomIDBytes = cfg.MaxUserIDBytes, cfg.MaxUsernameBytes, cfg.MaxRoomIDBytes
	if o.Logger == nil {
		o.Logger = cfg.Logger
	}
	v, err := auth.New(o)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	n.ident.verifier = v
	return nil
}

// AuthOn reports whether connections may or must bring tokens.
func (n *Node) AuthOn() bool { return n.ident.verifier != nil }

// ReloadKeys re-reads the token key files (chatd calls it on SIGHUP). A
// failed reload keeps the keys in use.
func (n *Node) ReloadKeys() error {
	if n.ident.verifier == nil {
		return nil
	}
	return n.ident.verifier.Reload()
}

// VerifyToken checks a token, counting and logging (at debug, without the
// token) a refusal. via names where it came from (url, hello, refresh).
func (n *Node) VerifyToken(token, via string) (*auth.Claims, error) {
	c, err := n.ident.verifier.Verify(token)
	if err == nil && c.UserID == SystemUserID {
		err = &auth.Error{Reason: auth.ReasonClaims}
	}
	if err != nil {
		r := auth.ReasonOf(err)
		n.m.Refused(r)
		n.cfg.Logger.Debug("token refused", "via", via, "reason", string(r), "err", err)
		return nil, err
	}
	n.m.tokensAccepted.Inc()
	return c, nil
}

// deadline is when a token's connection is closed: exp plus the leeway that
// verification allows.
func (n *Node) deadline(c *auth.Claims) int64 {
	return deadlineOf(c.Expires, n.ident.verifier.Leeway())
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

// openIdentity records the token the carrier verified before the upgrade,
// or else what it learned for the connect hook.
func (s *Session) openIdentity(claims *auth.Claims, peer *Peer) {
	if claims != nil {
		s.setToken(claims)
	} else {
		s.openPeer(peer)
	}
}

// setToken records the connection's token (for its rooms and its expiry).
func (s *Session) setToken(c *auth.Claims) {
	s.authed = true
	s.node.ident.tokens.set(s, c, s.node.deadline(c))
}

// IdentifyAtOpen identifies the session as it opens (a protocol without a
// hello): the user of the upgrade's token, or the one the connect hook
// names, or a random id whose name the protocol sets later (SetName).
// Under AuthOptional, a connection without a token (or a user from the
// hook) is a guest. done runs on the loop: at once, or once the connect
// hook answered (the session is busy until then); with an error, the
// client is told it and the connection closes (hooks.go).
func (s *Session) IdentifyAtOpen(done func(*Error)) {
	if s.authed {
		e, _ := s.node.ident.tokens.lookup(s)
		s.setIdentity(e.user, e.name)
	} else {
		s.guest = s.node.cfg.Auth == AuthOptional
		if s.connectHook("", "", false, done) {
			return
		}
		s.setIdentity(NewID(), s.Name())
	}
	s.identified = true
	s.node.conns.add(s)
	done(nil)
}

// Identify names the session's user (v2's hello): from token when given,
// else from the upgrade's token, else through the connect hook when it is
// on (hooks.go), else, unless tokens are required, from name
// (self-declared, 1 to MaxUsernameBytes bytes, no control characters) with
// a random id, as a guest under AuthOptional. done runs on the loop: at
// once, or once the connect hook answered (the session is busy until
// then). An error with CodeUnauthorized means the token was refused (or
// missing under AuthRequired): the protocol tells the client and closes
// the connection. A refusal of the connect hook closes it too, after done.
func (s *Session) Identify(token, name string, done func(*Error)) {
	n := s.node
	unverified := token // a token chatd does not verify (AuthOff): the connect hook's to judge
	if n.ident.verifier != nil {
		unverified = ""
		switch {
		case token != "":
			c, err := n.VerifyToken(token, "hello")
			if err != nil {
				done(unauthorized(auth.ReasonOf(err)))
				return
			}
			s.setToken(c)
			s.setIdentity(c.UserID, c.Name)
		case s.authed:
			e, _ := n.ident.tokens.lookup(s)
			s.setIdentity(e.user, e.name)
		case n.cfg.Auth == AuthRequired:
			n.m.Refused(auth.ReasonMissing)
			done(unauthorized(auth.ReasonMissing))
			return
		default:
			s.guest = true
		}
	}
	if s.UserID() == "" {
		// No token: a self-declared name and a random id, unless the
		// connect hook says otherwise (a name is then optional).
		blank := strings.TrimSpace(name) == ""
		if blank && !n.hooks().ConnectOn() {
			done(Missing("name"))
			return
		}
		if e := CheckName("name", name, n.cfg.MaxUsernameBytes); !blank && e != nil {
			done(e)
			return
		}
		if blank {
			name = ""
		}
		if s.connectHook(name, unverified, true, done) {
			return
		}
		s.setIdentity(NewID(), name)
	}
	s.dropPeer() // a token named the user: the connect hook is not asked
	s.identified = true
	s.c.ClearDeadline()
	n.conns.add(s)
	done(nil)
}

// AwaitIdentity gives a session that must identify itself (v2's hello)
// HelloTimeout to do so: past it the connection is closed (4002), whatever
// it sent meanwhile. Nothing extends the deadline: not pings or pongs, not
// refused requests. Without it, an upgrade that never said hello held a
// connection slot forever, with -auth required too.
func (s *Session) AwaitIdentity() {
	if t := s.node.cfg.HelloTimeout; t > 0 {
		s.c.SetDeadline(t, eventloop.CloseSessionTimeout, "hello timeout")
	}
}

// unauthorized is the error of a refused token.
func unauthorized(r auth.Reason) *Error {
	if r == auth.ReasonMissing {
		return Errorf(CodeUnauthorized, "A token is required")
	}
	return Errorf(CodeUnauthorized, "Invalid token ("+string(r)+")")
}

// JoinAllowed checks a join against the rooms the session may join
// (allowedRooms).
func (s *Session) JoinAllowed(room string) *Error {
	if s.allowedRooms().Allows(room) {
		return nil
	}
	return Errorf(CodeForbidden, "Not allowed in room "+room)
}

// allowedRooms returns the rooms the session may join (and see in room
// lists): those the connect hook named, if it named some; else the token's
// rooms claim; -guest-rooms for a guest; every room with AuthOff; none
// otherwise.
func (s *Session) allowedRooms() auth.Rooms {
	if rooms, ok := s.hookRooms(); ok {
		return rooms // the connect hook said which rooms: they decide
	}
	switch {
	case s.authed:
		e, _ := s.node.ident.tokens.lookup(s)
		return e.rooms
	case s.guest:
		return s.node.cfg.GuestRooms
	case s.node.cfg.Auth == AuthOff:
		return auth.AllRooms
	}
	return auth.Rooms{}
}

// Refresh replaces the connection's token before it expires: the new one
// must name the same user. Its exp and rooms apply from now on (rooms
// already joined stay joined); the name stays the first one.
func (s *Session) Refresh(token string) *Error {
	if !s.authed {
		return Errorf(CodeForbidden, "This connection has no token to refresh")
	}
	if token == "" {
		return Missing("token")
	}
	c, err := s.node.VerifyToken(token, "refresh")
	if err != nil {
		return Errorf(CodeUnauthorized, "Invalid token ("+string(auth.ReasonOf(err))+")")
	}
	if c.UserID != s.UserID() {
		return Errorf(CodeForbidden, "The token is for another user")
	}
	s.setToken(c)
	s.node.m.refreshes.Inc()
	return nil
}

// disconnectIdentity forgets the connection's token.
func (s *Session) disconnectIdentity() {
	if s.authed {
		s.node.ident.tokens.remove(s)
	}
	s.forgetHooks()
}

// startExpiry sweeps the token registry every TokenSweep and closes (4001)
// the connections whose token expired, on their loops.
func (n *Node) startExpiry() {
	if n.ident.verifier == nil {
		return
	}
	go func() {
		t := time.NewTicker(n.cfg.TokenSweep)
		defer t.Stop()
		for {
			select {
			case <-n.stop:
				return
			case now := <-t.C:
				for _, s := range n.ident.tokens.expired(now.UnixNano()) {
					s.exec(s.expire)
				}
			}
		}
	}()
}

// expire closes the connection if its token is still the expired one.
func (s *Session) expire() {
	if s.closed {
		return
	}
	e, ok := s.node.ident.tokens.lookup(s)
	if !ok || e.deadline > time.Now().UnixNano() {
		return // refreshed meanwhile
	}
	s.node.m.expiryCloses.Inc()
	s.c.Close(eventloop.CloseTokenExpired, "token expired")
}

// stopIdentity stops the key file watch.
func (n *Node) stopIdentity() {
	if n.ident.verifier != nil {
		n.ident.verifier.Close()
	}
}
