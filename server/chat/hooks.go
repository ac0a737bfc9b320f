package chat

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/auth"
	"github.com/chatd/chatd/server/hooks"
	"github.com/prometheus/client_golang/prometheus"
)

// The hooks: the application's backend in the loop (package server/hooks
// makes the HTTP calls). Each hook call is made from the session's loop
// and answered on another goroutine; meanwhile the session waits
// (Session.Await), its later requests queued in order, and the loop serves
// every other connection.
//
//   - connect: a connection without a verified token (with -auth off every
//     connection; with -auth optional those without a token) is identified
//     by the backend: v1 at open (its greeting, connected, waits for the
//     answer), v2 at hello. The backend names the user (id, name, rooms:
//     a token's claims, in effect), or admits the connection as it would
//     be without the hook (self-declared name, random id; a guest under
//     -auth optional), optionally with a rooms list, or refuses it: the
//     client gets the backend's code and message, then the close 1008
//     "connect refused". A failed call under the refuse policy closes 1013
//     "try again later" after a service_unavailable error.
//   - join: after the session's own checks, before the cluster.
//   - publish: after the session's own checks, before the message is
//     encoded for anyone: a refusal stores and delivers nothing, a
//     replacement is what is echoed (v1), stored and delivered.
//
// What the hooks leave per session lives here, not in the Session (whose
// size is a product target): the upgrade's details until the connect hook
// has answered, and what the backend said of the user.

// Peer is what a carrier learned of a connection at its upgrade for the
// connect hook. It is kept only until the hook has identified the session.
type Peer struct {
	Protocol string            // "v1", "v2"
	Addr     string            // the client's address, as the trusted proxies resolve it
	Token    string            // the URL's token when chatd verifies none (-auth off)
	Headers  map[string]string // the configured request headers the client sent
}

// hookState is the node's per-session hook state.
type hookState struct {
	peers   sync.Map     // *Session -> *Peer: until the connect hook identified the session
	pending atomic.Int64 // entries of peers
	users   sync.Map     // *Session -> *hookUser: what the connect hook said of the user, when it said something

	mu     sync.Mutex
	byUser map[string][]*Session // the sessions of each user the connect hook named (for a disconnect)
}

// named records that the connect hook named s's user.
func (h *hookState) named(s *Session) {
	h.mu.Lock()
	if h.byUser == nil {
		h.byUser = make(map[string][]*Session)
	}
	h.byUser[s.UserID()] = append(h.byUser[s.UserID()], s)
	h.mu.Unlock()
}

// forget removes s from the sessions of its user.
func (h *hookState) forget(s *Session) {
	h.mu.Lock()
	list := h.byUser[s.UserID()]
	for i, x := range list {
		if x == s {
			list[i] = list[len(list)-1]
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(h.byUser, s.UserID())
	} else {
		h.byUser[s.UserID()] = list
	}
	h.mu.Unlock()
}

// sessionsOf returns the sessions whose user the connect hook named user.
func (h *hookState) sessionsOf(user string) []*Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*Session(nil), h.byUser[user]...)
}

// registerHookMetrics exports the connections waiting for the connect
// hook: upgraded, not identified yet (a v2 connection before its hello).
func (n *Node) registerHookMetrics(reg prometheus.Registerer) {
	if !n.hooks().ConnectOn() {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "chatd", Name: "hook_connect_pending",
		Help: "Connections that the connect hook has not identified yet (v2: before hello), holding their upgrade's details."},
		func() float64 { return float64(n.hk.pending.Load()) }))
}

// hookUser is what the connect hook said of a session's user.
type hookUser struct {
	named    bool       // the backend named the user: the client's names are ignored
	hasRooms bool       // rooms says which rooms the user may join (else: as without the hook)
	rooms    auth.Rooms // the rooms the user may join
}

// The errors of a hook call that failed under the refuse policy.
var (
	errConnectUnavailable = Errorf(CodeServiceUnavailable, "Connect failed: service unavailable")
	errJoinHookFailed     = Errorf(CodeServiceUnavailable, MsgJoinFailed+": service unavailable")
	errPublishHookFailed  = Errorf(CodeServiceUnavailable, "Message not delivered: service unavailable")
)

// hooks returns the node's hooks (nil: none).
func (n *Node) hooks() *hooks.Client { return n.cfg.Hooks }

// PublishHookOn reports whether messages go to the publish hook (Screen)
// before they go out.
func (n *Node) PublishHookOn() bool { return n.cfg.Hooks.PublishOn() }

// openPeer keeps the upgrade's details for the connect hook.
func (s *Session) openPeer(p *Peer) {
	if p != nil && s.node.hooks().ConnectOn() {
		s.node.hk.peers.Store(s, p)
		s.node.hk.pending.Add(1)
	}
}

// dropPeer forgets the upgrade's details (identified, or gone).
func (s *Session) dropPeer() {
	if !s.node.hooks().ConnectOn() {
		return
	}
	if _, ok := s.node.hk.peers.LoadAndDelete(s); ok {
		s.node.hk.pending.Add(-1)
	}
}

// forgetHooks drops what the hooks left for the session (it is gone).
func (s *Session) forgetHooks() {
	if s.node.hooks() != nil {
		s.dropPeer()
		if v, ok := s.node.hk.users.LoadAndDelete(s); ok && v.(*hookUser).named {
			s.node.hk.forget(s)
		}
	}
}

// hookUser returns what the connect hook said of the session's user.
func (s *Session) hookUser() (*hookUser, bool) {
	if !s.node.hooks().ConnectOn() {
		return nil, false
	}
	v, ok := s.node.hk.users.Load(s)
	if !ok {
		return nil, false
	}
	return v.(*hookUser), true
}

// Named reports whether the session's user was named by the server (a
// token, or the connect hook): its names in requests are ignored.
func (s *Session) Named() bool {
	if s.authed {
		return true
	}
	u, ok := s.hookUser()
	return ok && u.named
}

// connectHook identifies the session through the connect hook, if it
// applies (it is on, and the session has no verified token): it reports
// false when it does not. name is the name the client asked for (v2's
// hello; "" for v1, or blank), token a token chatd did not verify (v2's
// hello), needName whether an answer that names nobody needs name (v2).
// done runs on the loop with nil once the session is identified, or with
// the error the client is told; a refusal then closes the connection.
func (s *Session) connectHook(name, token string, needName bool, done func(*Error)) bool {
	n := s.node
	h := n.hooks()
	if !h.ConnectOn() || s.authed {
		return false
	}
	req := &hooks.ConnectRequest{Name: name}
	if v, ok := n.hk.peers.Load(s); ok {
		p := v.(*Peer)
		req.Protocol, req.Addr, req.Token, req.Headers = p.Protocol, p.Addr, p.Token, p.Headers
	}
	if token != "" {
		req.Token = token // hello's token wins over the URL's
	}
	answer := s.Await()
	h.Connect(req, func(r *hooks.ConnectResult) {
		answer(func() { s.connected(r, name, needName, done) })
	})
	return true
}

// connected applies the connect hook's decision (on the loop).
func (s *Session) connected(r *hooks.ConnectResult, name string, needName bool, done func(*Error)) {
	n := s.node
	switch r.Outcome {
	case hooks.Refused:
		s.refuseConnect(hookRefusal(&r.Result), done, eventloop.ClosePolicy, "connect refused")
		return
	case hooks.Unavailable:
		s.refuseConnect(errConnectUnavailable, done, eventloop.CloseTryAgainLater, "try again later")
		return
	}
	var u *hookUser
	if r.UserID != "" {
		u = &hookUser{named: true, hasRooms: true, rooms: auth.AllRooms}
		s.setIdentity(r.UserID, r.Name)
		s.guest = false
	} else {
		// Admitted as without the hook: a self-declared name, a random id.
		own := s.Name()
		if needName {
			if strings.TrimSpace(name) == "" {
				done(Missing("name"))
				return
			}
			own = name
		}
		s.setIdentity(NewID(), own)
	}
	if r.HasRooms {
		if u == nil {
			u = &hookUser{}
		}
		u.rooms, u.hasRooms = r.Rooms, true
	}
	if u != nil {
		n.hk.users.Store(s, u)
		if u.named {
			n.hk.named(s)
		}
	}
	s.dropPeer()
	s.identified = true
	s.c.ClearDeadline() // as Identify does: the hello deadline is met
	n.conns.add(s)
	done(nil)
}

// refuseConnect tells the client why it may not connect, then closes the
// connection; nothing it sent meanwhile, or sends later, is handled.
func (s *Session) refuseConnect(e *Error, done func(*Error), code eventloop.CloseCode, reason string) {
	done(e)
	s.busy = true
	s.queue = nil
	s.c.Close(code, reason)
}

// hookRooms returns the rooms the connect hook allows the session, when it
// said which.
func (s *Session) hookRooms() (auth.Rooms, bool) {
	u, ok := s.hookUser()
	if !ok || !u.hasRooms {
		return auth.Rooms{}, false
	}
	return u.rooms, true
}

// JoinApproval is the join hook's yes to one join, for a protocol that
// leaves its current room between the check and the join (v1: a refused
// join leaves the connection where it was). Only ApproveJoin makes one.
type JoinApproval struct {
	s    *Session
	room string
}

// ApproveJoin checks that the session may join roomID (its token's or the
// connect hook's rooms, -guest-rooms) and asks the join hook, with userName
// as the user's name in the room and roomName as the room's name if the
// join creates it. done runs on the loop; the session is busy until then.
// JoinApproved then joins.
func (s *Session) ApproveJoin(roomID, roomName, userName string, done func(JoinApproval, *Error)) {
	if e := s.JoinAllowed(roomID); e != nil {
		done(JoinApproval{}, e)
		return
	}
	s.joinHook(roomID, roomName, userName, func(e *Error) {
		if e != nil {
			done(JoinApproval{}, e)
			return
		}
		done(JoinApproval{s: s, room: roomID}, nil)
	})
}

// joinHook asks the join hook whether the session's user (named userName)
// may join roomID; then runs on the loop with nil when it may, or the
// error the client is told. Without a join hook, then runs at once.
func (s *Session) joinHook(roomID, roomName, userName string, then func(*Error)) {
	h := s.node.hooks()
	if !h.JoinOn() {
		then(nil)
		return
	}
	answer := s.Await()
	h.Join(&hooks.JoinRequest{UserID: s.UserID(), Name: userName, RoomID: roomID, RoomName: roomName},
		func(r *hooks.Result) {
			answer(func() { then(s.hookError(r, errJoinHookFailed)) })
		})
}

// Screen asks the publish hook about ev, a message of this session
// (Message), before it is encoded for anyone: done runs on the loop with
// nil when it may go out (its content maybe replaced), or the error the
// publisher is told. Without a publish hook done runs at once. Publish
// screens a message that was not screened yet; a protocol that shows the
// message to its sender before publishing it (v1's echo) screens first.
func (s *Session) Screen(ev *Event, done func(*Error)) {
	h := s.node.hooks()
	if ev.screened || !h.PublishOn() {
		ev.screened = true
		done(nil)
		return
	}
	answer := s.Await()
	h.Publish(&hooks.PublishRequest{UserID: ev.UserID, Name: ev.Name, RoomID: ev.Room, Content: ev.Content},
		func(r *hooks.PublishResult) {
			answer(func() {
				if e := s.hookError(&r.Result, errPublishHookFailed); e != nil {
					done(e)
					return
				}
				if r.Replaced {
					ev.Content = r.Content
					ev.ref, ev.refFrame = nil, nil // encoded by nobody yet; to be sure
				}
				ev.screened = true
				done(nil)
			})
		})
}

// hookRefusal is the error of a backend's refusal: its code and message.
func hookRefusal(r *hooks.Result) *Error {
	return &Error{Code: ErrorCode(r.Code), Msg: r.Message, byHook: true}
}

// hookError is the error of a join or publish decision (nil: allowed).
// The node's drain, begun while the call was out, refuses too.
func (s *Session) hookError(r *hooks.Result, failed *Error) *Error {
	switch {
	case r.Outcome == hooks.Refused:
		return hookRefusal(r)
	case r.Outcome == hooks.Unavailable:
		return failed
	case s.node.draining.Load():
		return ErrDraining
	}
	return nil
}
