package chatdclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Room is a joined room: publish, history, presence, typing, leave. The
// client keeps it joined across reconnects (each comes back with a
// RecoveredEvent or a GapEvent) until Leave, or until the server refuses it
// back (RoomLostEvent); then its methods answer ErrNotJoined.
type Room struct {
	c  *Client
	rs *roomState
}

// JoinOptions are a join's options; the zero value joins with no history.
type JoinOptions struct {
	// Name names the room if this join creates it. Zero: the room's id.
	Name string
	// History: the room's N newest messages come first, as Replay MessageEvents, and as many
	// again after a gap. The server caps it (-history-limit, 100). Zero: none.
	History int
	// Since resumes from a position an earlier client saved (Room.Position): what came after it
	// follows a RecoveredEvent, or a GapEvent says the server's history no longer covers it.
	// Zero: join from now.
	Since *Position
}

// joinWait is a Join on its way on session s. Until its reply the room is
// not among the client's rooms, but the room's message pushes on s are kept
// in rs.held (bounded as a recovery's, recovering again past the bounds),
// and taken after the reply: those at or below the reply's offset are
// copies and dropped, those above it follow in order. The server sends
// none before the reply (it makes the joiner a member where it writes the
// reply, on either carrier), but a push that did overtake it must not be
// lost: the TypeScript client lost the newest message of a room that way
// when it dropped them.
type joinWait struct {
	s  *session
	rs *roomState
}

// Join joins a room. Its messages, joins, leaves and typing notices then come
// through Events (History first). It fails at once with ErrDisconnected
// while no connection is up, and with a *ServerError the server refuses
// (forbidden, too_many_rooms, ...).
func (c *Client) Join(ctx context.Context, roomID string, opts *JoinOptions) (*Room, error) {
	if opts == nil {
		opts = &JoinOptions{}
	}
	if roomID == "" {
		return nil, errors.New("chatdclient: join: empty room id")
	}
	rs := &roomState{id: roomID, name: opts.Name, history: opts.History}
	rs.handle = &Room{c: c, rs: rs}
	if opts.Since != nil {
		rs.at(opts.Since.Epoch, opts.Since.Offset)
	}
	req := &request{Type: reqJoin, RoomID: roomID, RoomName: opts.Name, History: opts.History, Since: opts.Since}
	pre := func(s *session) error {
		if _, busy := c.joining[roomID]; busy || c.rooms[roomID] != nil {
			return ErrAlreadyJoined
		}
		rs.recovering = true // pushes that overtake the reply wait in held (joinWait)
		c.joining[roomID] = joinWait{s: s, rs: rs}
		return nil
	}
	hook := func(s *session, f *inbound, err error, waiting bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.joining, roomID)
		if err != nil {
			return
		}
		if !waiting || c.closed || c.sess != s {
			// The caller gave up (timeout): it must not be in a room it was told it is not in.
			if !s.isEnded() {
				go s.write(&request{Type: reqLeave, RoomID: roomID}) //nolint:errcheck
			}
			return
		}
		c.rooms[roomID] = rs
		c.applyJoinLocked(s, rs, f, opts.Since != nil, reasonResume)
	}
	if _, err := c.do(ctx, req, pre, hook); err != nil {
		return nil, err
	}
	return rs.handle, nil
}

// Room returns the joined room with this id, or nil.
func (c *Client) Room(roomID string) *Room {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rs := c.rooms[roomID]; rs != nil {
		return rs.handle
	}
	return nil
}

// Rooms returns the joined rooms, by id.
func (c *Client) Rooms() []*Room {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Room, 0, len(c.rooms))
	for _, rs := range c.rooms {
		out = append(out, rs.handle)
	}
	slices.SortFunc(out, func(a, b *Room) int {
		switch {
		case a.rs.id < b.rs.id:
			return -1
		case a.rs.id > b.rs.id:
			return 1
		}
		return 0
	})
	return out
}

// ID is the room's id.
func (r *Room) ID() string { return r.rs.id }

// Position is where the client stands in the room's history: the epoch and
// the newest offset with nothing missing before it. Save it to resume later
// with JoinOptions.Since.
func (r *Room) Position() Position {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	return r.rs.position()
}

// MemberCount is the room's member count (users) as last heard.
func (r *Room) MemberCount() int {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	return r.rs.memberCount
}

// Joined reports whether the client is still in the room (not left, not lost).
func (r *Room) Joined() bool {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	return !r.rs.gone
}

// Published is a publish's outcome: where the message is stored.
type Published struct {
	Offset    uint64 // 0 on a server that keeps no history
	Epoch     string
	Timestamp time.Time
}

// Publish sends a message to the room. Other members get it as a
// MessageEvent; this connection does not (the reply is its echo). While no
// connection is up it fails at once with ErrDisconnected: nothing is queued.
// ErrConnectionLost and ErrTimeout leave the outcome unknown: if the message
// was stored, the room's next recovery delivers it as a MessageEvent of this
// user.
func (r *Room) Publish(ctx context.Context, content string) (Published, error) {
	c, rs := r.c, r.rs
	var epoch string
	pre := func(*session) error {
		if err := rs.usable(); err != nil {
			return err
		}
		rs.publishing++
		return nil
	}
	hook := func(s *session, f *inbound, err error, _ bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		rs.publishing--
		if rs.gone || c.sess != s {
			return
		}
		if err == nil && f.Offset > 0 {
			rs.mark(f.Offset)
		}
		epoch = rs.epoch
		c.checkHoleLocked(s, rs)
	}
	f, err := c.do(ctx, &request{Type: reqPublish, RoomID: rs.id, Content: content}, pre, hook)
	if err != nil {
		return Published{}, err
	}
	return Published{Offset: f.Offset, Epoch: epoch, Timestamp: parseTime(f.Timestamp)}, nil
}

// HistoryOptions page through a room's stored messages.
type HistoryOptions struct {
	// Before: only messages with smaller offsets (a page's first offset pages further back).
	// Zero: the newest.
	Before uint64
	// Limit: at most this many. Zero: the server's -history-limit (100).
	Limit int
}

// History returns stored messages of the room, oldest first: the newest ones,
// or those before opts.Before. An empty page is the end.
func (r *Room) History(ctx context.Context, opts *HistoryOptions) ([]Message, error) {
	if opts == nil {
		opts = &HistoryOptions{}
	}
	f, err := r.c.do(ctx, &request{Type: reqHistory, RoomID: r.rs.id, Before: opts.Before, Limit: opts.Limit},
		r.notGone, nil)
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(f.Messages))
	for i := range f.Messages {
		out[i] = f.Messages[i].message(r.rs.id)
	}
	return out, nil
}

// Presence is a room's member list, cluster-wide (users, not connections).
type Presence struct {
	MemberCount int
	Members     []Member // at most the server's -presence-max (1000)
	Truncated   bool     // Members is cut short
}

// Presence asks who is in the room.
func (r *Room) Presence(ctx context.Context) (Presence, error) {
	c, rs := r.c, r.rs
	hook := func(s *session, f *inbound, err error, _ bool) {
		if err == nil {
			c.mu.Lock()
			rs.memberCount = f.MemberCount
			c.mu.Unlock()
		}
	}
	f, err := c.do(ctx, &request{Type: reqPresence, RoomID: rs.id}, r.notGone, hook)
	if err != nil {
		return Presence{}, err
	}
	return Presence{MemberCount: f.MemberCount, Members: f.Members, Truncated: f.Truncated}, nil
}

// notGone refuses a request of a room left or lost, or whose re-join has
// not gone yet; under c.mu.
func (r *Room) notGone(*session) error {
	return r.rs.usable()
}

// usable is why the room's requests cannot go now, or nil; under c.mu.
func (rs *roomState) usable() error {
	switch {
	case rs.gone:
		return ErrNotJoined
	case rs.rejoinDue:
		return fmt.Errorf("%w: room %q is waiting for its re-join", ErrDisconnected, rs.id)
	}
	return nil
}

// Leave leaves the room; the client will not re-join it. While disconnected
// it only forgets the room (the server forgot the connection already).
func (r *Room) Leave(ctx context.Context) error {
	c, rs := r.c, r.rs
	c.mu.Lock()
	if rs.gone {
		c.mu.Unlock()
		return ErrNotJoined
	}
	rs.gone = true
	rs.offline()
	delete(c.rooms, rs.id)
	ready := c.ready
	c.mu.Unlock()
	if !ready {
		return nil
	}
	_, err := c.do(ctx, &request{Type: reqLeave, RoomID: rs.id}, nil, nil)
	if errors.Is(err, ErrDisconnected) || IsCode(err, CodeNotInRoom) {
		return nil // the server does not have it either
	}
	return err
}

// typingState is a room's typing throttle.
type typingState struct {
	sent    time.Time   // the last notice sent
	pending bool        // a call came since: one trailing notice is due
	timer   *time.Timer // sends the trailing notice
}

func (t *typingState) stop() {
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	t.pending = false
}

// Typing tells the room's other members the user is typing; call it on every
// keystroke. At most one notice per Config.TypingInterval goes out, plus one
// trailing notice for the calls in between, so the others see "is typing"
// within the interval and never a flood. While the room is being re-joined
// the notice is dropped (typing is not stored). It fails at once with
// ErrDisconnected while no connection is up.
func (r *Room) Typing() error {
	c, rs := r.c, r.rs
	c.mu.Lock()
	if err := rs.usable(); err != nil {
		c.mu.Unlock()
		return err
	}
	if err := c.refusalLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	t := &rs.typing
	if t.timer != nil {
		t.pending = true
		c.mu.Unlock()
		return nil
	}
	now := time.Now()
	if wait := c.cfg.TypingInterval - now.Sub(t.sent); wait > 0 {
		t.pending = true
		s := c.sess
		t.timer = time.AfterFunc(wait, func() { c.typingDue(s, rs) })
		c.mu.Unlock()
		return nil
	}
	t.sent = now
	s, joined := c.sess, rs.joined
	c.mu.Unlock()
	if !joined {
		return nil
	}
	return s.write(&request{Type: reqTyping, RoomID: rs.id})
}

// typingDue sends the trailing typing notice.
func (c *Client) typingDue(s *session, rs *roomState) {
	c.mu.Lock()
	t := &rs.typing
	t.timer = nil
	due := t.pending && !rs.gone && rs.joined && c.ready && c.sess == s
	t.pending = false
	if due {
		t.sent = time.Now()
	}
	c.mu.Unlock()
	if due {
		_ = s.write(&request{Type: reqTyping, RoomID: rs.id})
	}
}

// handlePush handles a frame without an id, on the read loop.
func (c *Client) handlePush(s *session, f *inbound) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != s {
		return
	}
	if f.Type == typeError {
		c.emitErrorLocked(f.RoomID, &ServerError{Request: "request without id", Code: f.Code, Message: f.Message})
		return
	}
	rs := c.rooms[f.RoomID]
	if rs == nil {
		if w, ok := c.joining[f.RoomID]; ok && w.s == s && f.Type == typeMessage {
			w.rs.hold(pushedMessage(f)) // taken after the join's reply (joinWait)
		}
		return
	}
	if rs.gone || (!rs.joined && !rs.recovering) {
		return // a room left meanwhile
	}
	switch f.Type {
	case typeMessage:
		c.acceptLocked(s, rs, pushedMessage(f))
	case typeJoined, typeLeft:
		rs.memberCount = f.MemberCount
		u := Member{UserID: f.UserID, Name: f.Name}
		if f.Type == typeJoined {
			c.emitData(s, JoinedEvent{RoomID: rs.id, User: u, MemberCount: f.MemberCount})
		} else {
			c.emitData(s, LeftEvent{RoomID: rs.id, User: u, MemberCount: f.MemberCount})
		}
	case typeTyping:
		if !c.q.push(TypingEvent{RoomID: rs.id, User: Member{UserID: f.UserID, Name: f.Name}}, false) {
			c.stats.DroppedTyping++
		}
	case typeResync:
		c.startRecoveryLocked(s, rs, reasonResync)
	}
	// Other push types are newer than this client: ignored.
}
