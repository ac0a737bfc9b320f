package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/chatd/chatd/server/api"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/chat"
)

// The chat node as the server API's backend (package server/api does the
// HTTP). Every call validates like the protocols do, goes through the same
// paths as clients' requests, and waits for the cluster at most until the
// request's context ends.

// apiBackend is the Server seen by package api.
type apiBackend Server

// APIHandler returns the server API's handler (for paths under /api/), or
// nil when no APIKey is configured.
func (s *Server) APIHandler() (http.Handler, error) {
	if s.cfg.APIKey == "" {
		return nil, nil
	}
	return api.New((*apiBackend)(s), api.Options{Key: s.cfg.APIKey, MaxBodyBytes: DefaultAPIMaxBodyBytes,
		Timeout: DefaultAPITimeout, Observe: func(endpoint string, status int) {
			s.metrics.api.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
		}})
}

// badRequest turns a protocol validation error into an API one.
func badRequest(e *chat.Error) error {
	return api.Errorf(http.StatusBadRequest, string(e.Code), "%s", e.Msg)
}

var (
	errAPIUnavailable = api.Errorf(http.StatusServiceUnavailable, string(chat.CodeUnavailable), "Cluster unavailable")
	errAPIDraining    = api.Errorf(http.StatusServiceUnavailable, string(chat.CodeDraining), "Server shutting down")
	errAPIStorageFull = api.Errorf(http.StatusInsufficientStorage, string(chat.CodeStorageFull),
		"Message not delivered: cluster storage full")
)

// serving refuses work while the node drains or the cluster is unreachable.
func (b *apiBackend) serving() error {
	if b.node.Draining() {
		return errAPIDraining
	}
	if !b.broker.Healthy() {
		return errAPIUnavailable
	}
	return nil
}

// roomArg validates a room id like a client's roomId.
func (b *apiBackend) roomArg(id string) error {
	if id == "" {
		return api.Errorf(http.StatusBadRequest, string(chat.CodeMissingField), `"roomId" is required`)
	}
	if e := chat.CheckName("roomId", id, b.cfg.MaxRoomIDBytes); e != nil {
		return badRequest(e)
	}
	return nil
}

// wait waits for the answer a cluster call sends on ch, or ctx's end.
func wait[T any](ctx context.Context, ch <-chan T) (T, error) {
	select {
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	case r := <-ch:
		return r, nil
	}
}

// Publish sends a message as the system user through the path clients'
// messages take: every member on every node gets it, v1 as message, v2 as a
// message push, and it is stored. 200 means the cluster took it (with its
// offset); a failure the broker reports is a 503.
func (b *apiBackend) Publish(ctx context.Context, p *api.PublishRequest) (*api.Published, error) {
	if err := b.roomArg(p.RoomID); err != nil {
		return nil, err
	}
	name := p.Name
	if name == "" {
		name = SystemName
	}
	if e := chat.CheckName("name", name, b.cfg.MaxUsernameBytes); e != nil {
		return nil, badRequest(e)
	}
	if err := b.serving(); err != nil {
		return nil, err
	}
	type result struct {
		ev     *chat.Event
		offset uint64
		err    error
	}
	ch := make(chan result, 1)
	b.node.PublishSystem(p.RoomID, p.Content, name, func(ev *chat.Event, offset uint64, err error) {
		ch <- result{ev, offset, err}
	})
	r, err := wait(ctx, ch)
	if err != nil {
		return nil, err
	}
	if r.err != nil {
		b.cfg.Logger.Warn("server API publish failed", "room", p.RoomID, "err", r.err)
		if errors.Is(r.err, broker.ErrStorageFull) {
			return nil, errAPIStorageFull
		}
		return nil, errAPIUnavailable
	}
	return &api.Published{RoomID: p.RoomID, UserID: SystemUserID, Name: name, Offset: r.offset,
		Timestamp: r.ev.Timestamp}, nil
}

// Rooms answers a page of the node's shared room list, as v2's rooms does.
func (b *apiBackend) Rooms(ctx context.Context, after, prefix string, limit int) (*api.RoomsPage, error) {
	if limit == 0 || limit > b.cfg.RoomListMax {
		limit = b.cfg.RoomListMax
	}
	type result struct {
		snap *chat.RoomSnapshot
		err  error
	}
	ch := make(chan result, 1)
	b.node.RoomList(func(snap *chat.RoomSnapshot, err error) { ch <- result{snap, err} })
	r, err := wait(ctx, ch)
	if err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, errAPIUnavailable
	}
	page, next := r.snap.Page(after, prefix, limit, b.cfg.MaxOutboundBytes/2, chat.AllVisible)
	out := &api.RoomsPage{Rooms: make([]api.Room, len(page)), Next: next}
	for i, r := range page {
		out.Rooms[i] = api.Room{RoomID: r.ID, Name: r.Name, MemberCount: r.Members, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// Members lists a room's members cluster-wide, as v2's presence does.
func (b *apiBackend) Members(ctx context.Context, roomID string, limit int) (*api.Members, error) {
	if err := b.roomArg(roomID); err != nil {
		return nil, err
	}
	if limit == 0 || limit > b.cfg.PresenceMax {
		limit = b.cfg.PresenceMax
	}
	type result struct {
		list  []broker.Member
		count int
		err   error
	}
	ch := make(chan result, 1)
	b.broker.Members(roomID, limit, func(list []broker.Member, count int, err error) { ch <- result{list, count, err} })
	r, err := wait(ctx, ch)
	if err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, errAPIUnavailable
	}
	out := &api.Members{RoomID: roomID, MemberCount: r.count, Members: make([]api.Member, len(r.list)),
		Truncated: r.count > len(r.list)}
	for i, m := range r.list {
		out.Members[i] = api.Member{UserID: m.User, Name: m.Name}
	}
	return out, nil
}

// Disconnect closes a user's connections on every node (a control event;
// each node closes its own with 1008). It is not a ban: a user with a valid
// token can connect again.
func (b *apiBackend) Disconnect(_ context.Context, userID string) (*api.Disconnected, error) {
	if e := chat.CheckName("userId", userID, b.cfg.MaxUserIDBytes); e != nil {
		return nil, badRequest(e)
	}
	if err := b.serving(); err != nil {
		return nil, err
	}
	failed := make(chan error, 1)
	b.node.DisconnectUser(userID, func(err error) {
		select {
		case failed <- err:
		default:
		}
	})
	select {
	case <-failed:
		return nil, errAPIUnavailable
	default:
	}
	return &api.Disconnected{UserID: userID}, nil
}
