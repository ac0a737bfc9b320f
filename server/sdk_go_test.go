package server_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	chatdclient "github.com/chatd/chatd/clients/go"
	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/auth"
	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/golang-jwt/jwt/v5"
)

// The Go client (clients/go) against live nodes: the scenarios of the SDK
// issue. Fault scenarios (a node killed, Redis restarted empty) are in
// sdk_go_faults_test.go.

// Two users in two rooms on one node: messages per room with their offsets,
// joins and leaves, presence, typing.
func TestSDKGoChat(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.RateLimit = -1 })
	url := sdkURL(s.Addr())
	alice := sdkConnect(t, url, "alice", func(c *chatdclient.Config) { c.TypingInterval = 400 * time.Millisecond })
	ra := sdkRecord(alice)
	lobbyA := sdkJoin(t, alice, "lobby", nil)
	sdkJoin(t, alice, "dev", nil)
	bob := sdkConnect(t, url, "bob", nil)
	rb := sdkRecord(bob)
	lobbyB := sdkJoin(t, bob, "lobby", nil)
	devB := sdkJoin(t, bob, "dev", nil)
	ra.wait(t, 5*time.Second, "bob's joins", func(evs []chatdclient.Event) bool {
		return sdkCount(evs, func(e chatdclient.JoinedEvent) bool { return e.User.Name == "bob" && e.MemberCount == 2 }) == 2
	})

	ctx := context.Background()
	p1, err := lobbyA.Publish(ctx, "hi bob")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := devB.Publish(ctx, "hi alice")
	if err != nil {
		t.Fatal(err)
	}
	if p1.Offset != 1 || p2.Offset != 1 || p1.Timestamp.IsZero() {
		t.Fatalf("published %+v, %+v: want offset 1 in each room, and a time", p1, p2)
	}
	rb.wait(t, 5*time.Second, "alice's message", func(evs []chatdclient.Event) bool { return sdkHas(evs, "lobby", "hi bob") })
	ra.wait(t, 5*time.Second, "bob's message", func(evs []chatdclient.Event) bool { return sdkHas(evs, "dev", "hi alice") })
	m := sdkMessages(rb.events(), "lobby")[0]
	if m.Offset != 1 || m.Epoch == "" || m.UserID != alice.UserID() || m.Name != "alice" || m.Replay ||
		!m.Timestamp.Equal(p1.Timestamp) {
		t.Fatalf("bob got %+v, want alice's message at offset 1", m)
	}
	if n := len(sdkMessages(ra.events(), "lobby")); n != 0 {
		t.Fatalf("alice got %d lobby messages: her own publish must not come back", n)
	}

	pres, err := lobbyB.Presence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, u := range pres.Members {
		names = append(names, u.Name)
	}
	slices.Sort(names)
	if pres.MemberCount != 2 || !slices.Equal(names, []string{"alice", "bob"}) || pres.Truncated {
		t.Fatalf("presence %+v", pres)
	}

	// Typing on every keystroke: one notice at once, one trailing notice after the client's
	// interval, which the server (300 ms) forwards too; no more.
	for range 5 {
		if err := lobbyA.Typing(); err != nil {
			t.Fatal(err)
		}
	}
	rb.wait(t, 5*time.Second, "alice typing, twice", func(evs []chatdclient.Event) bool {
		return sdkCount(evs, func(e chatdclient.TypingEvent) bool { return e.RoomID == "lobby" && e.User.Name == "alice" }) == 2
	})
	if _, err := lobbyA.Publish(ctx, "done typing"); err != nil {
		t.Fatal(err)
	}
	rb.wait(t, 5*time.Second, "alice's second message", func(evs []chatdclient.Event) bool {
		return sdkHas(evs, "lobby", "done typing")
	})
	if n := sdkCount[chatdclient.TypingEvent](rb.events(), nil); n != 2 {
		t.Fatalf("%d typing notices, want 2", n)
	}

	if err := devB.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	ra.wait(t, 5*time.Second, "bob leaving dev", func(evs []chatdclient.Event) bool {
		return sdkCount(evs, func(e chatdclient.LeftEvent) bool {
			return e.RoomID == "dev" && e.User.Name == "bob" && e.MemberCount == 1
		}) == 1
	})
	if _, err := devB.Publish(ctx, "gone"); !errors.Is(err, chatdclient.ErrNotJoined) {
		t.Fatalf("publish after leave: %v", err)
	}
	if _, err := bob.Join(ctx, "lobby", nil); !errors.Is(err, chatdclient.ErrAlreadyJoined) {
		t.Fatalf("second join: %v", err)
	}
}

// History: a join with History delivers the newest messages first; History
// pages back with before and limit to the first message.
func TestSDKGoHistoryPaging(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.RateLimit = -1 })
	url := sdkURL(s.Addr())
	ctx := context.Background()
	w := sdkConnect(t, url, "writer", nil)
	room := sdkJoin(t, w, "log", nil)
	for i := 1; i <= 25; i++ {
		if _, err := room.Publish(ctx, fmt.Sprint("entry ", i)); err != nil {
			t.Fatal(err)
		}
	}
	r := sdkConnect(t, url, "reader", nil)
	rec := sdkRecord(r)
	logR := sdkJoin(t, r, "log", &chatdclient.JoinOptions{History: 5})
	rec.wait(t, 5*time.Second, "5 messages of history", func(evs []chatdclient.Event) bool {
		return len(sdkMessages(evs, "log")) == 5
	})
	for i, m := range sdkMessages(rec.events(), "log") {
		if m.Offset != uint64(21+i) || !m.Replay {
			t.Fatalf("history on join: %+v, want offsets 21..25 as replay", m)
		}
	}
	if p := logR.Position(); p.Offset != 25 {
		t.Fatalf("position %+v", p)
	}
	var pages [][2]uint64
	opts := &chatdclient.HistoryOptions{Limit: 10}
	for {
		page, err := logR.History(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for i := 1; i < len(page); i++ {
			if page[i].Offset != page[i-1].Offset+1 {
				t.Fatalf("page not contiguous: %+v", page)
			}
		}
		pages = append(pages, [2]uint64{page[0].Offset, page[len(page)-1].Offset})
		opts.Before = page[0].Offset
	}
	if fmt.Sprint(pages) != "[[16 25] [6 15] [1 5]]" {
		t.Fatalf("pages %v", pages)
	}
}

// The room list, walked in pages.
func TestSDKGoRoomList(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.RateLimit = -1
		c.RoomListRefresh = time.Nanosecond // the rooms just made are in the list at once
		// (-room-list-interval stays the default: a server that refuses pages asked within it
		// makes the walk wait and ask again; one that allows bursts does not.)
	})
	c := sdkConnect(t, sdkURL(s.Addr()), "lister", nil)
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("team-%02d", i)
		sdkJoin(t, c, id, &chatdclient.JoinOptions{Name: "Team " + id})
		want = append(want, id)
	}
	sdkJoin(t, c, "other", nil)
	var got []string
	for r, err := range c.AllRooms(context.Background(), "team-", 3) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Name != "Team "+r.RoomID || r.MemberCount != 1 {
			t.Fatalf("room %+v", r)
		}
		got = append(got, r.RoomID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("walked %v, want %v", got, want)
	}
}

// Publishing while the node is gone fails at once with ErrDisconnected (not
// sent, not queued); the state says why.
func TestSDKGoPublishWhileDisconnected(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.RateLimit = -1 })
	c := sdkConnect(t, sdkURL(s.Addr()), "alice", func(cfg *chatdclient.Config) {
		cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour // no reconnect during the test
	})
	rec := sdkRecord(c)
	room := sdkJoin(t, c, "r", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, 10*time.Second, "the drop", func(evs []chatdclient.Event) bool {
		return sdkCount(evs, func(e chatdclient.StateEvent) bool { return e.State == chatdclient.StateReconnecting }) == 1
	})
	d := sdkCount(rec.events(), func(e chatdclient.StateEvent) bool {
		return e.State == chatdclient.StateDisconnected && e.Code == chatdclient.CloseGoingAway
	})
	if d != 1 {
		t.Fatalf("want one disconnected with 1001: %s", sdkDescribe(rec.events()))
	}
	start := time.Now()
	if _, err := room.Publish(ctx, "into the void"); !errors.Is(err, chatdclient.ErrDisconnected) {
		t.Fatalf("publish: %v, want ErrDisconnected", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("refused after %v, want at once", took)
	}
}

// A request that gets no reply in time fails with ErrTimeout: here Redis is
// paused, so the node cannot store the message before the client's
// deadline. The message is stored once Redis resumes: a late reply is taken
// quietly, and the client goes on.
func TestSDKGoRequestTimeout(t *testing.T) {
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server (CLIENT PAUSE)")
	}
	n := startClusterNode(t, rs, "A", nil)
	url := sdkURL(n.srv.Addr())
	c := sdkConnect(t, url, "alice", nil)
	room := sdkJoin(t, c, "slow", nil)
	other := sdkConnect(t, url, "bob", nil)
	ro := sdkRecord(other)
	sdkJoin(t, other, "slow", nil)

	pause := 800 * time.Millisecond
	if err := rs.Client().Do(context.Background(), "CLIENT", "PAUSE", pause.Milliseconds(), "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := room.Publish(ctx, "slow one"); !errors.Is(err, chatdclient.ErrTimeout) {
		t.Fatalf("publish: %v, want ErrTimeout", err)
	}
	ro.wait(t, 10*time.Second, "the paused message, once Redis resumed", func(evs []chatdclient.Event) bool {
		return sdkHas(evs, "slow", "slow one")
	})
	p, err := room.Publish(context.Background(), "next")
	if err != nil || p.Offset != 2 {
		t.Fatalf("next publish %+v, %v: want offset 2", p, err)
	}
	if pos := room.Position(); pos.Offset != 2 {
		t.Fatalf("position %+v: the late reply's offset 1 must count", pos)
	}
}

// sdkAuthServer starts a node that requires tokens, with no leeway and a fast
// expiry sweep, so that an expired token closes the connection at once.
func sdkAuthServer(t *testing.T) *server.Server {
	return startServer(t, withAuth(server.AuthRequired, func(c *server.Config) {
		c.AuthKeys = auth.Options{Secret: testSecret, Leeway: -1}
		c.TokenSweep = 50 * time.Millisecond
	}))
}

// With GetToken the client refreshes its token before it expires: the
// connection outlives its first tokens.
func TestSDKGoTokenRefresh(t *testing.T) {
	s := sdkAuthServer(t)
	var firstExp time.Time
	calls := 0
	getToken := func(context.Context) (string, error) {
		calls++ // (the client calls GetToken from one goroutine at a time)
		tok := mint(t, "alice", 2*time.Second, jwt.MapClaims{"name": "Alice"})
		if firstExp.IsZero() {
			firstExp = time.Unix(time.Now().Add(2*time.Second).Unix(), 0)
		}
		return tok, nil
	}
	c := sdkConnect(t, sdkURL(s.Addr()), "", func(cfg *chatdclient.Config) { cfg.GetToken = getToken })
	rec := sdkRecord(c)
	room := sdkJoin(t, c, "r", nil)
	if id := c.Identity(); id.UserID != "alice" || id.Name != "Alice" {
		t.Fatalf("identity %+v", id)
	}
	waitFor(t, 10*time.Second, "two refreshes and the first token's expiry", func() bool {
		return c.Stats().TokenRefreshes >= 2 && time.Now().After(firstExp.Add(200*time.Millisecond))
	})
	if _, err := room.Publish(context.Background(), "still here"); err != nil {
		t.Fatal(err)
	}
	if n := sdkCount(rec.events(), func(e chatdclient.StateEvent) bool { return e.State == chatdclient.StateDisconnected }); n != 0 {
		t.Fatalf("disconnected although refreshed: %s", sdkDescribe(rec.events()))
	}
}

// Without GetToken, an expired token closes the connection (4001); the
// client cannot say hello again with it and stops, saying why.
func TestSDKGoTokenExpiry(t *testing.T) {
	s := sdkAuthServer(t)
	tok := mint(t, "bob", 2*time.Second, nil)
	c := sdkConnect(t, sdkURL(s.Addr()), "", func(cfg *chatdclient.Config) { cfg.Token = tok })
	rec := sdkRecord(c)
	rec.waitClosed(t, 10*time.Second)
	evs := rec.events()
	if sdkCount(evs, func(e chatdclient.StateEvent) bool {
		return e.State == chatdclient.StateDisconnected && e.Code == chatdclient.CloseTokenExpired
	}) != 1 {
		t.Fatalf("no close 4001: %s", sdkDescribe(evs))
	}
	last, ok := evs[len(evs)-1].(chatdclient.StateEvent)
	if !ok || last.State != chatdclient.StateDisconnected || !chatdclient.IsCode(last.Err, chatdclient.CodeUnauthorized) {
		t.Fatalf("last event %+v, want disconnected with unauthorized", evs[len(evs)-1])
	}
	if !chatdclient.IsCode(c.Err(), chatdclient.CodeUnauthorized) {
		t.Fatalf("Err %v", c.Err())
	}
}

// A token the server refuses at hello makes the client ask GetToken again.
func TestSDKGoTokenRefusedAtHello(t *testing.T) {
	s := sdkAuthServer(t)
	calls := 0
	getToken := func(context.Context) (string, error) {
		calls++
		if calls == 1 {
			return mint(t, "carol", -time.Hour, nil), nil // expired
		}
		return mint(t, "carol", time.Hour, nil), nil
	}
	c := sdkConnect(t, sdkURL(s.Addr()), "", func(cfg *chatdclient.Config) { cfg.GetToken = getToken })
	if calls != 2 || c.UserID() != "carol" {
		t.Fatalf("%d GetToken calls, user %q", calls, c.UserID())
	}
	rec := sdkRecord(c)
	rec.wait(t, 5*time.Second, "connected", func(evs []chatdclient.Event) bool {
		return sdkCount(evs, func(e chatdclient.StateEvent) bool { return e.State == chatdclient.StateConnected }) == 1
	})
	if sdkCount(rec.events(), func(e chatdclient.StateEvent) bool {
		return e.State == chatdclient.StateConnecting && chatdclient.IsCode(e.Err, chatdclient.CodeUnauthorized)
	}) != 1 {
		t.Fatalf("the refused hello is not reported: %s", sdkDescribe(rec.events()))
	}
}
