package server_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chatd/chatd/server/internal/redistest"
)

// request sends req with a fresh id and returns the reply with that id,
// passing over the pushes that come first.
func (c *v2client) request(req map[string]any) msg {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	req["id"] = id
	c.send(req)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_ = c.ws.SetReadDeadline(deadline)
		_, p, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("%v: %v", req, err)
		}
		var m msg
		_ = json.Unmarshal(p, &m)
		if m.num("id") == id && (m.str("type") == "ok" || m.str("type") == "error") {
			return m
		}
	}
}

// After Redis came back empty, the node tells its members to resync only
// once it can serve their re-joins: it reports ready by then, and the
// re-join with since, sent as soon as the resync arrives, succeeds (issue
// 24 item 6: it failed with cluster_unavailable when the subscriber
// connection came back before the command side, and a retry 250 ms later
// worked). And once the node reports ready, a join succeeds at once: with
// since, of a room the connection is not in, and a plain one. Three outages
// in a row, each long enough for both reconnection loops to back off.
func TestJoinOnceReadyAfterRedisReturns(t *testing.T) {
	longTest(t) // (three outages; the broker's TestCheckpointMarksRedisBackBeforeResync checks the cause at once)
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server (restart)")
	}
	n := startClusterNode(t, rs, "A", nil)
	addr := n.srv.Addr()
	in := connectV2(t, addr, "in")
	in.join("r")
	pub := connectV2(t, addr, "pub")
	pub.join("r")
	in.expect("joined")
	for round := 1; round <= 3; round++ {
		ok, err := publishOK(t, pub, "r", fmt.Sprint("before ", round))
		if err != nil {
			t.Fatal(err)
		}
		var epoch string
		for epoch == "" { // (passing over the presence and resync pushes of the round before)
			if m := in.read(); m.str("type") == "message" && m.str("content") == fmt.Sprint("before ", round) {
				epoch = m.str("epoch")
			}
		}
		rs.Kill()
		waitFor(t, 10*time.Second, "the node to notice the outage", func() bool { return readyz(addr) == 503 })
		time.Sleep(time.Second) // both loops back off to their longest wait (MaxBackoff)
		rs.Restart()
		for m := in.read(); m.str("type") != "resync"; m = in.read() {
		}
		if code := readyz(addr); code != 200 {
			t.Fatalf("round %d: resync pushed, /readyz says %d", round, code)
		}
		since := map[string]any{"epoch": epoch, "offset": ok.num("offset")}
		if m := in.request(map[string]any{"type": "join", "roomId": "r", "since": since}); m.str("type") != "ok" ||
			m["recovered"] != false || m.str("epoch") == epoch {
			t.Fatalf("round %d: re-join with since as the resync came: %v", round, m)
		}
		fresh := connectV2(t, addr, fmt.Sprint("fresh", round))
		plain := connectV2(t, addr, fmt.Sprint("plain", round))
		for what, m := range map[string]msg{
			"fresh join with since": fresh.request(map[string]any{"type": "join", "roomId": "r", "since": since}),
			"plain join":            plain.request(map[string]any{"type": "join", "roomId": "r"}),
		} {
			if m.str("type") != "ok" || m.str("epoch") == "" {
				t.Fatalf("round %d, %s right after /readyz said 200: %v", round, what, m)
			}
		}
		fresh.ws.Close()
		plain.ws.Close()
	}
}
