package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/auth"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/golang-jwt/jwt/v5"
)

// roomsBroker is a memory broker holding rooms with one member each.
func roomsBroker(ids ...string) *memory.Broker {
	b := memory.New(memory.Options{})
	for _, id := range ids {
		b.Join(broker.Member{Room: id, User: "u-" + id, Name: "n"}, id, func(broker.Membership, error) {})
	}
	return b
}

// numbered returns n room ids that sort in numeric order.
func numbered(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("room-%05d", i)
	}
	return ids
}

// walk pages through the v2 room list with pages of limit rooms, one
// request after the other, and returns the ids seen.
func walk(c *v2client, limit int) []string {
	c.t.Helper()
	var seen []string
	after := ""
	for {
		ok := c.call(map[string]any{"type": "rooms", "limit": limit, "after": after})
		for _, r := range ok["rooms"].([]any) {
			seen = append(seen, msg(r.(map[string]any)).str("roomId"))
		}
		after = ok.str("next")
		if after == "" {
			return seen
		}
	}
}

// With default flags a client walks a 2,000-room list in one go (20 pages
// one after the other), seeing each room once, in id order.
func TestRoomsPagedInOneGo(t *testing.T) {
	ids := numbered(2000)
	s := startServer(t, func(c *server.Config) { c.Broker = roomsBroker(ids...) })
	c := connectV2(t, s.Addr(), "walker")
	seen := walk(c, 100)
	if len(seen) != len(ids) {
		t.Fatalf("%d rooms seen, want %d", len(seen), len(ids))
	}
	for i := range ids {
		if seen[i] != ids[i] {
			t.Fatalf("room %d is %q, want %q", i, seen[i], ids[i])
		}
	}
}

// The burst is bounded: -room-list-burst pages in a row, then rate_limited
// (the connection stays); v1's getRoomList keeps its one per interval.
func TestRoomsPageBurstBounded(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.Broker = roomsBroker(numbered(200)...)
		c.RoomListBurst = 7
	})
	c := connectV2(t, s.Addr(), "walker")
	after := ""
	for i := 0; i < 7; i++ {
		ok := c.call(map[string]any{"type": "rooms", "limit": 5, "after": after})
		after = ok.str("next")
	}
	c.callError(map[string]any{"type": "rooms", "limit": 5, "after": after}, "rate_limited")
	c.join("still-here")

	v1 := dialChat(t, s.Addr())
	if rooms := roomList(v1); len(rooms) != 200 {
		t.Fatalf("%d rooms in v1's list, want 200", len(rooms))
	}
	v1.send(`{"type":"getRoomList"}`)
	v1.expectError("Room list asked for too often, slow down", "rate_limited")
}

// A user sees only the rooms it may join: its token's rooms claim, or
// -guest-rooms for a guest; without a claim, every room. In v2's rooms and
// in v1's getRoomList alike.
func TestRoomListShowsOnlyJoinableRooms(t *testing.T) {
	all := []string{"general", "lobby", "team-a-dev", "team-b-secret"}
	s := startServer(t, withAuth(server.AuthOptional, func(c *server.Config) {
		c.Broker = roomsBroker(all...)
		c.GuestRooms = mustRooms(t, "lobby")
	}))
	for _, tc := range []struct {
		name  string
		rooms any // the token's rooms claim; nil: no claim; "guest": no token
		want  []string
	}{
		{"no claim", nil, all},
		{"general only", []string{"general"}, []string{"general"}},
		{"none", []string{}, nil},
		{"a prefix", []string{"team-a*", "nowhere"}, []string{"team-a-dev"}},
		{"every room", []string{"*"}, all},
		{"guest", "guest", []string{"lobby"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := ""
			if tc.rooms != "guest" {
				token = mint(t, "user-"+tc.name, time.Hour, jwt.MapClaims{"rooms": tc.rooms})
			}
			// v2
			c := dialV2(t, s.Addr())
			hello := map[string]any{"type": "hello", "name": "guest"}
			if token != "" {
				hello["token"] = token
			}
			c.call(hello)
			if got := walk(c, 0); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("v2 rooms %v, want %v", got, tc.want)
			}
			// v1
			v1 := dialToken(t, s.Addr(), token)
			var got []string
			for _, r := range roomList(v1) {
				got = append(got, r.str("roomId"))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("v1 roomList %v, want %v", got, tc.want)
			}
		})
	}
}

// mustRooms parses room patterns.
func mustRooms(t *testing.T, patterns ...string) auth.Rooms {
	t.Helper()
	r, err := auth.ParseRooms(patterns, 0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A user the connect hook named with a rooms list sees only those rooms in
// room lists, as it may join only those.
func TestRoomListShowsOnlyHookRooms(t *testing.T) {
	b := newHookBackend(t)
	b.connect = always(`{"userId":"u-alice","name":"Alice","rooms":["team-a*"]}`)
	s := startServer(t, b.configure(func(c *server.Config) {
		c.Broker = roomsBroker("general", "team-a-dev", "team-b-secret")
	}))
	c := dialV2(t, s.Addr())
	c.call(map[string]any{"type": "hello"})
	if got := walk(c, 0); fmt.Sprint(got) != "[team-a-dev]" {
		t.Fatalf("rooms %v, want [team-a-dev]", got)
	}
}
