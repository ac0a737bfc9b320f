package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/chatd/chatd/server/internal/redistest"
)

// longID is a 128-byte room id (the longest allowed) ending in i: with ids
// and names that long, 3,300 rooms made a reply over the 1 MiB outbound limit.
func longID(i int) string {
	s := fmt.Sprintf("r%06d", i)
	return strings.Repeat("x", 128-len(s)) + s
}

// members gives room i a member count that makes the rooms with the most
// members easy to tell: every 40th room has 3, the others 1.
func members(i int) int {
	if i%40 == 0 {
		return 3
	}
	return 1
}

// checkBoundedList asks for the room list on a node with n rooms and checks
// that the reply holds the listMax rooms with the most members, oldest first,
// and that the requester stays connected.
func checkBoundedList(t *testing.T, s *server.Server, n, listMax int) {
	t.Helper()
	c := dialChat(t, s.Addr())
	c.send(`{"type":"getRoomList"}`)
	m := expectWithin(c, "roomList", 20*time.Second)
	rooms := m["rooms"].([]any)
	if len(rooms) != listMax {
		t.Fatalf("%d rooms in the reply, want %d", len(rooms), listMax)
	}
	last := ""
	busy := 0
	for _, r := range rooms {
		r := msg(r.(map[string]any))
		if r.str("createdAt") < last {
			t.Fatalf("not oldest first at %v", r)
		}
		last = r.str("createdAt")
		if r.num("memberCount") == 3 {
			busy++
		}
	}
	if want := min(listMax, (n+39)/40); busy != want {
		t.Fatalf("%d of the rooms with 3 members listed, want %d (the fullest rooms first)", busy, want)
	}
	// Still connected, and served.
	c.join("after-list", "alice")
	sendChat(c, "still here")
}

// 20,000 rooms on the memory broker: the reply is bounded and the requester
// stays connected.
func TestRoomListBoundedMemory(t *testing.T) {
	const n = 20000
	b := memory.New(memory.Options{})
	for i := 0; i < n; i++ {
		for u := 0; u < members(i); u++ {
			b.Join(broker.Member{Room: longID(i), User: fmt.Sprintf("u%d", u), Name: "n"}, longID(i), func(broker.Membership, error) {})
		}
	}
	s := startServer(t, func(c *server.Config) { c.Broker = b })
	checkBoundedList(t, s, n, server.DefaultRoomListMax)
}

// 20,000 rooms in Redis (written with the reference app's keys, as its nodes
// would): the same.
func TestRoomListBoundedRedis(t *testing.T) {
	const n = 20000
	rs := redistest.Start(t)
	ctx := context.Background()
	pipe := rs.Client().Pipeline()
	for i := 0; i < n; i++ {
		id := longID(i)
		pipe.HSet(ctx, "room_info:"+id, "id", id, "name", id, "createdAt",
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Millisecond).Format("2006-01-02T15:04:05.000Z"))
		for u := 0; u < members(i); u++ {
			pipe.SAdd(ctx, "room_members:"+id, fmt.Sprintf("u%d", u))
		}
		pipe.SAdd(ctx, "chatd:rooms", id)
		if i%1000 == 999 {
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	node := startClusterNode(t, rs, "A", nil)
	checkBoundedList(t, node.srv, n, server.DefaultRoomListMax)
}

// However many rooms an operator lets into the reply, it stays under half
// the outbound limit, so asking for it never closes the requester with
// 4008; and what the size bound leaves out are the rooms with the fewest
// members (the oldest among equals), as the count bound does: the newest
// rooms are the busiest here, so a list cut by age would lose them.
func TestRoomListSizeBoundKeepsTheFullestRooms(t *testing.T) {
	const n, outbound = 3000, 256 << 10
	for _, listMax := range []int{n, 1000} { // the size bound alone; the count bound, then the size bound
		t.Run(fmt.Sprint("max ", listMax), func(t *testing.T) {
			b := memory.New(memory.Options{})
			// Room i has 3 members among the newest 100, 2 for every 10th room,
			// else 1.
			want := map[string]int{}
			for i := 0; i < n; i++ {
				k := 1
				switch {
				case i >= n-100:
					k = 3
				case i%10 == 0:
					k = 2
				}
				want[longID(i)] = k
				for u := 0; u < k; u++ {
					b.Join(broker.Member{Room: longID(i), User: fmt.Sprint("u", u), Name: "n"}, longID(i), func(broker.Membership, error) {})
				}
			}
			all := make(chan []broker.Room, 1)
			b.Rooms(func(rooms []broker.Room, err error) {
				if err != nil {
					t.Error(err)
				}
				all <- rooms
			})
			rooms := <-all
			s := startServer(t, func(c *server.Config) {
				c.Broker = b
				c.RoomListMax = listMax
				c.MaxOutboundBytes = outbound
			})
			c := dialChat(t, s.Addr())
			c.send(`{"type":"getRoomList"}`)
			p := readRaw(c, 10*time.Second)
			if len(p) > outbound/2 || !strings.HasPrefix(string(p), `{"type":"roomList","rooms":[{`) {
				t.Fatalf("reply of %d bytes: %.60s", len(p), p)
			}
			var reply struct {
				Rooms []struct {
					RoomID      string
					MemberCount int
					CreatedAt   string
				}
			}
			if err := json.Unmarshal(p, &reply); err != nil {
				t.Fatal(err)
			}
			if len(reply.Rooms) == 0 || len(reply.Rooms) >= min(n, listMax) {
				t.Fatalf("%d rooms listed: the size bound did not apply", len(reply.Rooms))
			}
			// Listed oldest first, with their member counts; which are kept:
			// every listed room ranks before every room left out.
			listed := map[string]bool{}
			for i, r := range reply.Rooms {
				if i > 0 && r.CreatedAt < reply.Rooms[i-1].CreatedAt {
					t.Fatalf("not oldest first at %d: %s after %s", i, r.CreatedAt, reply.Rooms[i-1].CreatedAt)
				}
				if r.MemberCount != want[r.RoomID] {
					t.Fatalf("room %s listed with %d members, has %d", r.RoomID, r.MemberCount, want[r.RoomID])
				}
				listed[r.RoomID] = true
			}
			// The weakest room listed (fewest members, then oldest) must rank
			// before the strongest left out.
			before := func(a, b broker.Room) bool {
				return a.Members > b.Members || a.Members == b.Members && a.CreatedAt > b.CreatedAt
			}
			var weakest, strongest *broker.Room
			for i := range rooms {
				r := &rooms[i]
				if listed[r.ID] && (weakest == nil || before(*weakest, *r)) {
					weakest = r
				}
				if !listed[r.ID] && (strongest == nil || before(*r, *strongest)) {
					strongest = r
				}
			}
			if before(*strongest, *weakest) {
				t.Fatalf("%d of %d rooms listed, but room %s (%d members, created %s) left out while room %s (%d members, created %s) is listed",
					len(listed), n, strongest.ID[len(strongest.ID)-7:], strongest.Members, strongest.CreatedAt,
					weakest.ID[len(weakest.ID)-7:], weakest.Members, weakest.CreatedAt)
			}
			c.join("after-list", "alice")
			sendChat(c, "still here")
		})
	}
}

// One build serves every request within the refresh period, and a
// connection asking again too soon is refused without being closed.
func TestRoomListSharedAndRateLimited(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.RoomListRefresh = time.Hour
		c.RoomListInterval = time.Hour
	})
	a, b := dialChat(t, s.Addr()), dialChat(t, s.Addr())
	a.join("one", "alice")
	for _, c := range []*client{a, b} {
		if rooms := roomList(c); len(rooms) != 1 || rooms[0].str("roomId") != "one" {
			t.Fatalf("rooms %v", rooms)
		}
	}
	b.join("two", "bob")
	// Within the refresh period the shared list is served as built.
	c := dialChat(t, s.Addr())
	if rooms := roomList(c); len(rooms) != 1 {
		t.Fatalf("rooms %v, want the shared list of one room", rooms)
	}
	if got := scrape(t, s)["chatd_room_list_builds_total"]; got != 1 {
		t.Fatalf("%v builds, want 1", got)
	}
	a.send(`{"type":"getRoomList"}`)
	a.expectError("Room list asked for too often, slow down", "rate_limited")
	sendChat(a, "still here")
}
