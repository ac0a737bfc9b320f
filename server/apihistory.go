package server

import (
	"context"

	"github.com/chatd/chatd/server/api"
	"github.com/chatd/chatd/server/broker"
	v2 "github.com/chatd/chatd/server/v2"
)

// The server API's history endpoints, on the broker's history (broker.History,
// broker.DeleteHistory).

// History answers a page of a room's stored messages, in the v2 message
// push's shape, oldest first: those with offsets below before (0: the
// newest), at most limit.
func (b *apiBackend) History(ctx context.Context, roomID string, before uint64, limit int) (*api.HistoryPage, error) {
	if err := b.roomArg(roomID); err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = DefaultAPIHistoryLimit
	}
	limit = min(limit, MaxAPIHistoryLimit)
	type result struct {
		res broker.HistoryResult
		err error
	}
	ch := make(chan result, 1)
	b.broker.History(roomID, broker.HistoryQuery{Before: before, Limit: limit},
		func(res broker.HistoryResult, err error) { ch <- result{res, err} })
	r, err := wait(ctx, ch)
	if err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, errAPIUnavailable
	}
	return &api.HistoryPage{RoomID: roomID, Messages: v2.Messages(b.node.DecodeMessages(roomID, r.res.Messages))}, nil
}

// DeleteHistory deletes a room's stored messages.
func (b *apiBackend) DeleteHistory(ctx context.Context, roomID string) (*api.Deleted, error) {
	if err := b.roomArg(roomID); err != nil {
		return nil, err
	}
	ch := make(chan error, 1)
	b.broker.DeleteHistory(roomID, func(err error) { ch <- err })
	err, werr := wait(ctx, ch)
	if werr != nil {
		return nil, werr
	}
	if err != nil {
		return nil, errAPIUnavailable
	}
	return &api.Deleted{RoomID: roomID}, nil
}
