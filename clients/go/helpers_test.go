package chatdclient

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"
)

// testConfig is a config for the fake server: fast backoff.
func testConfig(url string) Config {
	return Config{URL: url, Name: "alice", BackoffMin: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond}
}

// connectFake connects a client to fs (which must answer hello itself) and
// returns it with its connection, after the hello and the Connecting and
// Connected events.
func connectFake(t *testing.T, fs *fakeServer, mod func(*Config)) (*Client, *fakeConn) {
	t.Helper()
	cfg := testConfig(fs.URL)
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fc := fs.next()
	fc.expect(reqHello)
	wantState(t, c, StateConnecting)
	wantState(t, c, StateConnected)
	return c, fc
}

// nextEvent returns the client's next event, failing after 10 s.
func nextEvent(t *testing.T, c *Client) Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatal("Events closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return nil
	}
}

// want returns the next event, which must be a T.
func want[T Event](t *testing.T, c *Client) T {
	t.Helper()
	ev := nextEvent(t, c)
	v, ok := ev.(T)
	if !ok {
		var zero T
		t.Fatalf("got %T %+v, want a %T", ev, ev, zero)
	}
	return v
}

// wantState returns the next event, which must be a StateEvent of st.
func wantState(t *testing.T, c *Client, st State) StateEvent {
	t.Helper()
	ev := want[StateEvent](t, c)
	if ev.State != st {
		t.Fatalf("got state %v (%+v), want %v", ev.State, ev, st)
	}
	return ev
}

// wantMessages checks that the next events are messages with these contents.
func wantMessages(t *testing.T, c *Client, replay bool, contents ...string) {
	t.Helper()
	for _, s := range contents {
		m := want[MessageEvent](t, c)
		if m.Content != s || m.Replay != replay {
			t.Fatalf("got message %q (replay %v), want %q (replay %v)", m.Content, m.Replay, s, replay)
		}
	}
}

// noEvent checks that no event is waiting: a sentinel push (a typing notice
// from the fake) must be the next event.
func noEventBefore(t *testing.T, c *Client, fc *fakeConn, room string) {
	t.Helper()
	fc.send(map[string]any{"type": "typing", "roomId": room, "userId": "sentinel", "name": "S"})
	if ev := want[TypingEvent](t, c); ev.User.UserID != "sentinel" {
		t.Fatalf("got typing of %v, want the sentinel's", ev.User)
	}
}

// joinFake joins room on fc: the join reply has epoch, offset and the
// messages from..offset.
func joinFake(t *testing.T, c *Client, fc *fakeConn, room, epoch string, from, offset uint64, opts *JoinOptions) *Room {
	t.Helper()
	type res struct {
		r   *Room
		err error
	}
	done := make(chan res, 1)
	go func() {
		r, err := c.Join(context.Background(), room, opts)
		done <- res{r, err}
	}()
	req := fc.expect(reqJoin)
	if req.str("roomId") != room {
		t.Fatalf("join %v, want room %s", req, room)
	}
	var m []any
	if from > 0 {
		m = msgs(room, epoch, from, offset)
	}
	fc.joinOK(req, epoch, offset, m, nil)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.r
}

func contents(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprint("m", i))
	}
	return out
}

// b64 encodes a JWT part.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// jwtWithExp makes an unsigned token-shaped string with exp (the client does
// not verify tokens; the server does).
func jwtWithExp(t *testing.T, exp time.Time, n int) string {
	t.Helper()
	return b64(`{"alg":"HS256"}`) + "." + b64(fmt.Sprintf(`{"sub":"alice","n":%d,"exp":%d}`, n, exp.Unix())) + ".sig"
}
