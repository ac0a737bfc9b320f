package server_test

import (
	"fmt"
	"testing"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/chatd/chatd/server/internal/redistest"
)

// A join of a room without any stored message names the epoch its messages
// will carry (docs/protocol-v2.md §7): a client that recovers with what the
// join told it and the offsets it saw gets recovered: true and exactly what
// it missed, on one node and across nodes.
func TestRecoveryFromEmptyRoomJoin(t *testing.T) {
	t.Run("one node", func(t *testing.T) {
		s := startServer(t, func(c *server.Config) {
			c.RateLimit = -1
			c.Broker = memory.New(memory.Options{HistorySize: 50})
		})
		checkEmptyRoomRecovery(t, s.Addr(), s.Addr())
	})
	t.Run("two nodes and redis", func(t *testing.T) {
		rs := redistest.Start(t)
		nodes := startCluster(t, rs, 2, nil)
		checkEmptyRoomRecovery(t, nodes[0].srv.Addr(), nodes[1].srv.Addr())
	})
}

// checkEmptyRoomRecovery: a publisher on addrA, the recovering client on
// addrB.
func checkEmptyRoomRecovery(t *testing.T, addrA, addrB string) {
	const room = "fresh"
	c := connectV2(t, addrB, "carol")
	j := c.join(room)
	epoch := j.str("epoch")
	if epoch == "" || j.num("offset") != 0 || len(j["messages"].([]any)) != 0 {
		t.Fatalf("join of an empty room: %v, want its epoch, offset 0, no message", j)
	}
	// Another connection's join of the still empty room names the same one.
	if m := connectV2(t, addrA, "other").join(room); m.str("epoch") != epoch || m.num("offset") != 0 {
		t.Fatalf("second join of the empty room: %v, want epoch %s", m, epoch)
	}
	c.expect("joined")
	pub := connectV2(t, addrA, "pub")
	pub.join(room)
	c.expect("joined")
	published := map[int]string{}
	send := func(from, to int) {
		for i := from; i <= to; i++ {
			published[i] = fmt.Sprint("m", i)
			// (publishOK passes over the presence pushes pub gets.)
			if ok, err := publishOK(t, pub, room, published[i]); err != nil || ok.num("offset") != i {
				t.Fatalf("publish ok %v (%v), want offset %d", ok, err, i)
			}
		}
	}
	send(1, 3)
	for i := 1; i <= 3; i++ {
		if m := c.expect("message"); m.num("offset") != i || m.str("epoch") != epoch {
			t.Fatalf("push %v, want offset %d of epoch %s (the join's)", m, i, epoch)
		}
	}
	// Leave and come back on the same connection; then from a new one.
	c.call(map[string]any{"type": "leave", "roomId": room})
	send(4, 5)
	recover := func(c *v2client, since int) {
		t.Helper()
		newest := len(published)
		m := c.call(map[string]any{"type": "join", "roomId": room, "since": map[string]any{"epoch": epoch, "offset": since}})
		got := offsetsOf(t, m)
		// The reply covers up to its offset: on the other node that may be short of the newest
		// publish acknowledged (the node has not yet seen it arrive); the rest then comes live,
		// from offset + 1 on, so that reply and pushes hold every message after since once.
		covered := m.num("offset")
		if m["recovered"] != true || m.str("epoch") != epoch || covered < since || covered > newest ||
			!equalInts(got, seq(since+1, covered)) {
			t.Fatalf("since %s/%d: %v; want recovered, epoch %s, offset up to %d, messages %v", epoch, since, m, epoch,
				newest, seq(since+1, covered))
		}
		for _, e := range m["messages"].([]any) {
			if e := msg(e.(map[string]any)); e.str("content") != published[e.num("offset")] {
				t.Fatalf("recovered %v, published %q", e, published[e.num("offset")])
			}
		}
		for i := covered + 1; i <= newest; i++ {
			if e := c.expect("message"); e.num("offset") != i || e.str("content") != published[i] {
				t.Fatalf("after a reply up to %d: push %v, want offset %d %q", covered, e, i, published[i])
			}
		}
	}
	recover(c, 3)
	c.ws.Close()
	send(6, 6)
	recover(connectV2(t, addrB, "carol"), 0)
	recover(connectV2(t, addrB, "dave"), 6)
}
