package server_test

import (
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/memory"
)

// slowRooms is a broker whose room list takes a while to read, as a big
// list in Redis does.
type slowRooms struct {
	*memory.Broker
	took time.Duration
}

func (b *slowRooms) Rooms(done func([]broker.Room, error)) {
	time.Sleep(b.took) // the read's own cost, not a wait for the test
	b.Broker.Rooms(done)
}

// A big list (1,000 rooms or more) that takes long to read is read less
// often: a snapshot that took 100 ms stays fresh ~2 s (20 times its read),
// whatever -room-list-refresh says, so that the room list costs a node ~5 %
// of a core however many ask. A small list follows -room-list-refresh.
func TestRoomListReadCostBounded(t *testing.T) {
	b := &slowRooms{Broker: roomsBroker(numbered(1000)...), took: 100 * time.Millisecond}
	s := startServer(t, func(c *server.Config) {
		c.Broker = b
		c.RoomListRefresh = time.Millisecond
		c.RoomListInterval = time.Millisecond
	})
	c := connectV2(t, s.Addr(), "lister")
	c.join("r")
	for i := 0; i < 5; i++ {
		c.call(map[string]any{"type": "rooms"})
	}
	if got := scrape(t, s)["chatd_room_list_builds_total"]; got != 1 {
		t.Fatalf("%v reads of the room list for 5 requests within a second, want 1", got)
	}

	small := &slowRooms{Broker: roomsBroker(numbered(10)...), took: 100 * time.Millisecond}
	s2 := startServer(t, func(c *server.Config) {
		c.Broker = small
		c.RoomListRefresh = time.Millisecond
		c.RoomListInterval = time.Millisecond
	})
	c2 := connectV2(t, s2.Addr(), "lister")
	for i := 0; i < 3; i++ {
		c2.call(map[string]any{"type": "rooms"})
	}
	if got := scrape(t, s2)["chatd_room_list_builds_total"]; got != 3 {
		t.Fatalf("%v reads of a small list for 3 requests, want 3 (-room-list-refresh 1ms)", got)
	}
}
