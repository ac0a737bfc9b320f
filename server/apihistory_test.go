package server_test

import (
	"testing"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker/memory"
)

// The history endpoints page a room's stored messages (clients' and the
// API's own) in the v2 push's shape, and delete them: the next message
// starts a new epoch.
func TestAPIHistory(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.Broker = memory.New(memory.Options{HistorySize: 10})
		c.RateLimit = -1
		withAPIKey(c)
	})
	a := startAPI(t, s)
	c := connectV2(t, s.Addr(), "ann")
	c.join("r")
	c.publish("r", "one")
	c.publish("r", "two")
	if p := a.ok("POST", "/api/publish", `{"roomId":"r","content":"three"}`); p.num("offset") != 3 {
		t.Fatalf("publish %v, want offset 3", p)
	}
	if m := c.expect("message"); m.str("content") != "three" || m.num("offset") != 3 {
		t.Fatalf("the API's message reached the member as %v", m)
	}
	page := a.ok("GET", "/api/rooms/r/history?limit=2", "")
	msgs, _ := page["messages"].([]any)
	if page.str("roomId") != "r" || len(msgs) != 2 {
		t.Fatalf("history %v", page)
	}
	first, second := msg(msgs[0].(map[string]any)), msg(msgs[1].(map[string]any))
	assertKeys(t, first, "type", "roomId", "offset", "epoch", "content", "userId", "name", "timestamp")
	if first.num("offset") != 2 || first.str("content") != "two" || first.str("name") != "ann" ||
		second.num("offset") != 3 || second.str("userId") != server.SystemUserID {
		t.Fatalf("messages %v", msgs)
	}
	older := a.ok("GET", "/api/rooms/r/history?before=2", "")
	if m, _ := older["messages"].([]any); len(m) != 1 || msg(m[0].(map[string]any)).str("content") != "one" {
		t.Fatalf("before 2: %v", older)
	}
	epoch := first.str("epoch")
	if d := a.ok("DELETE", "/api/rooms/r/history", ""); d.str("roomId") != "r" {
		t.Fatalf("delete %v", d)
	}
	if m, _ := a.ok("GET", "/api/rooms/r/history", "")["messages"].([]any); len(m) != 0 {
		t.Fatalf("after delete: %v", m)
	}
	// ann was told the deleted epoch: a resync comes before the new one's
	// first message (a publish without id gets no ok).
	c.send(map[string]any{"type": "publish", "roomId": "r", "content": "four"})
	if m := c.expect("resync"); m.str("roomId") != "r" || m.str("reason") != "epoch" {
		t.Fatalf("after delete: %v, want a resync", m)
	}
	if m, _ := a.ok("GET", "/api/rooms/r/history", "")["messages"].([]any); len(m) != 1 ||
		msg(m[0].(map[string]any)).num("offset") != 1 || msg(m[0].(map[string]any)).str("epoch") == epoch {
		t.Fatalf("after delete, a new epoch from offset 1: %v", m)
	}
	a.expectError("DELETE", "/api/rooms/%00/history", "", 400, "control_chars")
	a.expectError("GET", "/api/rooms/r/history?before=x", "", 400, "bad_field")
}
