package chatdclient

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A request without a reply fails with ErrTimeout at its context's deadline
// (or RequestTimeout without one); it keeps its slot until the reply comes,
// so at most MaxPending wait, and a late reply is taken quietly.
func TestRequestTimeout(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, func(cfg *Config) {
		cfg.MaxPending = 1
		cfg.RequestTimeout = 50 * time.Millisecond
	})
	room := joinFake(t, c, fc, "r", "e1", 0, 0, nil)

	_, err := room.Publish(context.Background(), "lost") // RequestTimeout
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish: %v, want ErrTimeout", err)
	}
	late := fc.expect(reqPublish)

	// Its slot is still taken: the next request waits for it, within its context, unsent.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = room.Presence(ctx)
	cancel()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("presence with no slot: %v, want ErrTimeout", err)
	}
	// A caller that cancels gets its own error, not a timeout.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := room.Presence(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("presence cancelled: %v", err)
	}

	fc.ok(late, map[string]any{"offset": 1, "timestamp": "2026-01-02T03:04:05.678Z"})
	done := make(chan error, 1)
	go func() {
		_, err := room.Presence(context.Background())
		done <- err
	}()
	req := fc.expect(reqPresence) // sent once the late reply freed the slot
	fc.ok(req, map[string]any{"roomId": "r", "memberCount": 1, "members": []any{map[string]any{"userId": "u1", "name": "alice"}}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The late reply's offset counted: the room stands at 1, nothing was reported.
	if p := room.Position(); p != (Position{"e1", 1}) {
		t.Fatalf("position %+v", p)
	}
	noEventBefore(t, c, fc, "r")
}

// While no connection is up, requests fail at once with ErrDisconnected and
// nothing is sent later; requests waiting for a reply when the connection
// drops fail with ErrConnectionLost.
func TestDisconnectedRequests(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, func(cfg *Config) { cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour })
	room := joinFake(t, c, fc, "r", "e1", 0, 0, nil)
	errs := make(chan error, 1)
	go func() {
		_, err := room.Publish(context.Background(), "in flight")
		errs <- err
	}()
	fc.expect(reqPublish)
	fc.drop()
	if err := <-errs; !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("publish in flight: %v, want ErrConnectionLost", err)
	}
	wantState(t, c, StateDisconnected)
	if ev := wantState(t, c, StateReconnecting); ev.Delay < 30*time.Minute {
		t.Fatalf("delay %v", ev.Delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := room.Publish(ctx, "while down"); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("publish: %v, want ErrDisconnected", err)
	}
	if err := room.Typing(); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("typing: %v", err)
	}
	if _, err := c.Join(ctx, "other", nil); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("join: %v", err)
	}
	if _, err := c.RoomList(ctx, nil); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("rooms: %v", err)
	}
	if _, err := room.History(ctx, nil); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("history: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refusals took %v: they must not wait", d)
	}
	if c.State() != StateReconnecting {
		t.Fatalf("state %v", c.State())
	}
}

// Close fails what waits, refuses what comes after, and closes Events.
func TestClose(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	room := joinFake(t, c, fc, "r", "e1", 0, 0, nil)
	errs := make(chan error, 1)
	go func() {
		_, err := room.History(context.Background(), &HistoryOptions{Before: 10, Limit: 5})
		errs <- err
	}()
	req := fc.expect(reqHistory)
	if req.num("before") != 10 || req.num("limit") != 5 {
		t.Fatalf("history %v", req)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("history: %v", err)
	}
	fc.waitGone()
	if _, err := room.Publish(context.Background(), "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
	for range c.Events() {
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("Err %v", c.Err())
	}
	c.Close() // twice is fine
}

// A request over MaxMessageBytes is refused before it is sent (the server
// would close the connection).
func TestTooLarge(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, func(cfg *Config) { cfg.MaxMessageBytes = 1000 })
	room := joinFake(t, c, fc, "r", "e1", 0, 0, nil)
	if _, err := room.Publish(context.Background(), strings.Repeat("x", 1000)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("publish: %v", err)
	}
	go room.Publish(context.Background(), strings.Repeat("x", 900))
	if r := fc.expect(reqPublish); len(r.str("content")) != 900 {
		t.Fatalf("got %d bytes", len(r.str("content")))
	}
}

// A join whose caller gave up (timeout) is left when its reply comes late:
// the client is never in a room it was told it is not in.
func TestJoinTimeoutLeaves(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Join(ctx, "slow", nil); !errors.Is(err, ErrTimeout) {
		t.Fatalf("join: %v", err)
	}
	req := fc.expect(reqJoin)
	fc.joinOK(req, "e1", 0, nil, nil)
	if r := fc.expect(reqLeave); r.str("roomId") != "slow" || r["id"] != nil {
		t.Fatalf("got %v, want a leave of slow without id", r)
	}
	if c.Room("slow") != nil || len(c.Rooms()) != 0 {
		t.Fatal("the room is joined")
	}
	// The same room can be joined again.
	joinFake(t, c, fc, "slow", "e1", 0, 0, nil)
	if _, err := c.Join(context.Background(), "slow", nil); !errors.Is(err, ErrAlreadyJoined) {
		t.Fatalf("second join: %v", err)
	}
}

// Refusals come back as *ServerError with the server's code.
func TestServerError(t *testing.T) {
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	errs := make(chan error, 1)
	go func() {
		_, err := c.Join(context.Background(), "private", nil)
		errs <- err
	}()
	fc.fail(fc.expect(reqJoin), CodeForbidden, "Not allowed in room private")
	err := <-errs
	var se *ServerError
	if !errors.As(err, &se) || se.Code != CodeForbidden || se.Request != "join" || se.Temporary() {
		t.Fatalf("join: %v", err)
	}
	// An error without id (a refused typing notice) is an ErrorEvent.
	fc.send(map[string]any{"type": "error", "code": CodeNotInRoom, "message": "Not in room x"})
	if ev := want[ErrorEvent](t, c); !IsCode(ev.Err, CodeNotInRoom) {
		t.Fatalf("got %+v", ev)
	}
}

// The room list pages by after until the last page; a page refused as
// rate_limited is asked again.
func TestAllRooms(t *testing.T) {
	defer func(d time.Duration) { roomListRetryWait = d }(roomListRetryWait)
	roomListRetryWait = 10 * time.Millisecond
	fs := startFake(t, true)
	c, fc := connectFake(t, fs, nil)
	got := make(chan []string, 1)
	go func() {
		var ids []string
		for r, err := range c.AllRooms(context.Background(), "team-", 2) {
			if err != nil {
				t.Error(err)
				break
			}
			ids = append(ids, r.RoomID)
		}
		got <- ids
	}()
	pages := [][]string{{"team-a", "team-b"}, {"team-c", "team-d"}, {"team-e"}}
	after := ""
	for i, p := range pages {
		req := fc.expect(reqRooms)
		if i == 1 { // a server that bounds room list requests: asked again later
			fc.fail(req, CodeRateLimited, "Room list asked for too often, slow down")
			req = fc.expect(reqRooms)
		}
		if req.str("after") != after || req.str("prefix") != "team-" || req.num("limit") != 2 {
			t.Fatalf("page %d: %v", i, req)
		}
		var rooms []any
		for _, id := range p {
			rooms = append(rooms, map[string]any{"roomId": id, "name": id, "memberCount": 1, "createdAt": "x"})
		}
		f := map[string]any{"rooms": rooms}
		if i < len(pages)-1 {
			f["next"] = p[len(p)-1]
			after = p[len(p)-1]
		}
		fc.ok(req, f)
	}
	if ids := <-got; strings.Join(ids, ",") != "team-a,team-b,team-c,team-d,team-e" {
		t.Fatalf("walked %v", ids)
	}
}

// A request while a reconnect's hello is on its way fails at once, even when
// that hello holds the only request slot.
func TestDisconnectedDuringHello(t *testing.T) {
	fs := startFake(t, false)
	errs := make(chan error, 1)
	var c *Client
	go func() {
		var err error
		c, err = Connect(context.Background(), Config{URL: fs.URL, Name: "a", MaxPending: 1, BackoffMin: time.Millisecond})
		errs <- err
	}()
	fc := fs.next()
	fc.ok(fc.expect(reqHello), map[string]any{"userId": "u1", "name": "a"})
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fc.drop()
	fc2 := fs.next()
	fc2.expect(reqHello) // not answered
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := c.RoomList(ctx, nil); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("rooms: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refused after %v: it waited for the slot", d)
	}
}
