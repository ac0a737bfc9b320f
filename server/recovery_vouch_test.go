package server_test

import (
	"testing"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/chatd/chatd/server/internal/redistest"
)

// A v2 join with since answers recovered: true only when the history
// vouches for everything after since (docs/protocol-v2.md §7): since without
// an epoch ({"", 0} included), since above the room's newest offset, or a
// node without history answer recovered: false, so the client knows it may
// have missed messages. On one node and across two nodes and Redis.
func TestRecoveredOnlyWhenHistoryVouches(t *testing.T) {
	t.Run("one node", func(t *testing.T) {
		s := startServer(t, func(c *server.Config) {
			c.RateLimit = -1
			c.Broker = memory.New(memory.Options{HistorySize: 50})
		})
		checkVouch(t, s.Addr(), s.Addr())
	})
	t.Run("two nodes and redis", func(t *testing.T) {
		rs := redistest.Start(t)
		nodes := startCluster(t, rs, 2, nil)
		checkVouch(t, nodes[0].srv.Addr(), nodes[1].srv.Addr())
	})
	t.Run("no history", func(t *testing.T) {
		s := startServer(t, func(c *server.Config) {
			c.RateLimit = -1
			c.Broker = memory.New(memory.Options{HistorySize: -1})
		})
		c := connectV2(t, s.Addr(), "carol")
		m := c.call(map[string]any{"type": "join", "roomId": "r", "since": map[string]any{"epoch": "", "offset": 0}})
		if m["recovered"] != false {
			t.Fatalf("since {\"\", 0} without history: %v, want recovered false", m)
		}
	})
}

func checkVouch(t *testing.T, addrA, addrB string) {
	join := func(room, epoch string, offset, history int) msg {
		t.Helper()
		c := connectV2(t, addrB, "carol")
		return c.call(map[string]any{"type": "join", "roomId": room, "history": history,
			"since": map[string]any{"epoch": epoch, "offset": offset}})
	}
	if m := join("new", "", 0, 5); m["recovered"] != false || m.str("epoch") == "" || m.num("offset") != 0 {
		t.Fatalf("since {\"\", 0} of a new room: %v, want recovered false and the room's epoch", m)
	}
	pub := connectV2(t, addrA, "pub")
	epoch := pub.join("room").str("epoch")
	for i := 1; i <= 3; i++ {
		if ok, err := publishOK(t, pub, "room", "m"); err != nil || ok.num("offset") != i {
			t.Fatalf("publish: %v %v", ok, err)
		}
	}
	for _, tc := range []struct {
		epoch  string
		offset int
	}{{"", 0}, {"", 2}, {epoch, 4}, {epoch, 100}} {
		m := join("room", tc.epoch, tc.offset, 2)
		if m["recovered"] != false || !equalInts(offsetsOf(t, m), seq(2, 3)) {
			t.Fatalf("since %q/%d with 3 messages: %v, want recovered false and the newest 2", tc.epoch, tc.offset, m)
		}
	}
	for since := 0; since <= 3; since++ {
		m := join("room", epoch, since, 2)
		if m["recovered"] != true || !equalInts(offsetsOf(t, m), seq(since+1, 3)) {
			t.Fatalf("since %s/%d: %v, want recovered and %v", epoch, since, m, seq(since+1, 3))
		}
	}
}
