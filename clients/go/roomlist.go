package chatdclient

import (
	"context"
	"fmt"
	"iter"
	"time"
)

// RoomListOptions select one page of the cluster's room list (by room id).
type RoomListOptions struct {
	// After: rooms after this id (the previous page's Next). Zero: from the first.
	After string
	// Prefix: only rooms whose id starts with it. Zero: all.
	Prefix string
	// Limit: at most this many rooms. Zero: the server's -room-list-max (500).
	Limit int
}

// RoomListPage is one page of the room list.
type RoomListPage struct {
	Rooms []RoomInfo
	// Next is the After of the next page; empty on the last page.
	Next string
}

// RoomList asks for one page of the cluster's room list.
func (c *Client) RoomList(ctx context.Context, opts *RoomListOptions) (RoomListPage, error) {
	if opts == nil {
		opts = &RoomListOptions{}
	}
	f, err := c.do(ctx, &request{Type: reqRooms, After: opts.After, Prefix: opts.Prefix, Limit: opts.Limit}, nil, nil)
	if err != nil {
		return RoomListPage{}, err
	}
	return RoomListPage{Rooms: f.Rooms, Next: f.Next}, nil
}

// AllRooms walks the room list page by page (pageSize rooms per request; zero:
// the server's maximum), yielding each room once, by id. A page refused as
// rate_limited (a server that bounds room list requests per connection) is
// asked again a little later, a few times; another error ends the walk with
// it. Only one page is held at a time.
func (c *Client) AllRooms(ctx context.Context, prefix string, pageSize int) iter.Seq2[RoomInfo, error] {
	return func(yield func(RoomInfo, error) bool) {
		opts := RoomListOptions{Prefix: prefix, Limit: pageSize}
		for {
			page, err := c.RoomList(ctx, &opts)
			for retry := 0; IsCode(err, CodeRateLimited) && retry < roomListRetries; retry++ {
				t := time.NewTimer(roomListRetryWait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					yield(RoomInfo{}, fmt.Errorf("chatdclient: room list: %w", ctx.Err()))
					return
				}
				page, err = c.RoomList(ctx, &opts)
			}
			if err != nil {
				yield(RoomInfo{}, err)
				return
			}
			for _, r := range page.Rooms {
				if !yield(r, nil) {
					return
				}
			}
			if page.Next == "" || len(page.Rooms) == 0 {
				return
			}
			opts.After = page.Next
		}
	}
}
