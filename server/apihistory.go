package server

import (
	"context"
	"net/http"

	"github.com/chatd/chatd/server/api"
)

// The server API's history endpoints. They need the broker to keep room
// history (issue 10): a broker that has the two calls of historyStore makes
// them work; until then they answer 501. Wiring a history broker whose calls
// differ takes an adapter of a few lines here.

// historyStore is what the history endpoints need from the broker.
type historyStore interface {
	// History returns up to limit stored events of room with offsets below
	// before (0: from the newest), oldest first: each event's offset and its
	// payload as Receiver.Receive gets it.
	History(room string, before uint64, limit int, done func(offsets []uint64, payloads []string, err error))
	// DeleteHistory deletes room's stored events.
	DeleteHistory(room string, done func(error))
}

var errAPINoHistory = api.Errorf(http.StatusNotImplemented, "not_implemented", "This server keeps no message history")

// History answers a page of a room's stored messages, in the v2 message
// push's shape, oldest first.
func (b *apiBackend) History(ctx context.Context, roomID string, before uint64, limit int) (*api.HistoryPage, error) {
	hs, ok := b.broker.(historyStore)
	if !ok {
		return nil, errAPINoHistory
	}
	if err := b.roomArg(roomID); err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = DefaultAPIHistoryLimit
	}
	limit = min(limit, MaxAPIHistoryLimit)
	type result struct {
		offsets  []uint64
		payloads []string
		err      error
	}
	ch := make(chan result, 1)
	hs.History(roomID, before, limit, func(offsets []uint64, payloads []string, err error) { ch <- result{offsets, payloads, err} })
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.err != nil {
			return nil, errAPIUnavailable
		}
		msgs := make([]MessageV2, 0, len(r.payloads))
		for i, p := range r.payloads {
			ev, _, _, _, err := decodeEvent(roomID, p)
			if err != nil || ev.kind != evMessage || i >= len(r.offsets) {
				continue // not a message (or not ours to read): history pages hold messages only
			}
			ev.offset = r.offsets[i]
			msgs = append(msgs, *ev.messageV2())
		}
		return &api.HistoryPage{RoomID: roomID, Messages: msgs}, nil
	}
}

// DeleteHistory deletes a room's stored messages.
func (b *apiBackend) DeleteHistory(ctx context.Context, roomID string) (*api.Deleted, error) {
	hs, ok := b.broker.(historyStore)
	if !ok {
		return nil, errAPINoHistory
	}
	if err := b.roomArg(roomID); err != nil {
		return nil, err
	}
	ch := make(chan error, 1)
	hs.DeleteHistory(roomID, func(err error) { ch <- err })
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case err := <-ch:
		if err != nil {
			return nil, errAPIUnavailable
		}
		return &api.Deleted{RoomID: roomID}, nil
	}
}
