package server_test

import (
	"sync"
	"testing"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker/memory"
)

// histBroker is a memory broker with the two history calls the server API
// needs, over a fixed list of stored payloads.
type histBroker struct {
	*memory.Broker
	mu      sync.Mutex
	stored  []string
	asked   [2]uint64 // before, limit of the last History call
	deleted []string
}

func (h *histBroker) History(room string, before uint64, limit int, done func([]uint64, []string, error)) {
	h.mu.Lock()
	h.asked = [2]uint64{before, uint64(limit)}
	offsets := make([]uint64, len(h.stored))
	for i := range offsets {
		offsets[i] = uint64(i + 1)
	}
	p := append([]string(nil), h.stored...)
	h.mu.Unlock()
	done(offsets, p, nil)
}

func (h *histBroker) DeleteHistory(room string, done func(error)) {
	h.mu.Lock()
	h.deleted = append(h.deleted, room)
	h.mu.Unlock()
	done(nil)
}

// The history endpoints work once the broker keeps history: stored
// messages come back in the v2 push's shape with their offsets (presence
// events are not history), and a room's history can be deleted.
func TestAPIHistory(t *testing.T) {
	hb := &histBroker{Broker: memory.New(), stored: []string{
		`{"type":"message","content":"one","username":"Ann","userId":"ann","timestamp":"2026-01-01T00:00:00.000Z"}`,
		`{"type":"userJoined","username":"Bob","userId":"bob","memberCount":2}`,
		`{"type":"message","content":"two","username":"Bob","userId":"bob","timestamp":"2026-01-01T00:00:01.000Z","excludeUserId":"bob"}`,
	}}
	s := startServer(t, func(c *server.Config) { c.Broker = hb; withAPIKey(c) })
	a := startAPI(t, s)
	page := a.ok("GET", "/api/rooms/r/history?before=9&limit=2", "")
	msgs, _ := page["messages"].([]any)
	if page.str("roomId") != "r" || len(msgs) != 2 {
		t.Fatalf("history %v", page)
	}
	first, second := msg(msgs[0].(map[string]any)), msg(msgs[1].(map[string]any))
	assertKeys(t, first, "type", "roomId", "offset", "content", "userId", "name", "timestamp")
	if first.num("offset") != 1 || first.str("content") != "one" || first.str("name") != "Ann" || second.num("offset") != 3 {
		t.Fatalf("messages %v", msgs)
	}
	if hb.asked != [2]uint64{9, 2} {
		t.Fatalf("broker asked before/limit %v", hb.asked)
	}
	a.ok("GET", "/api/rooms/r/history", "")
	if hb.asked != [2]uint64{0, server.DefaultAPIHistoryLimit} {
		t.Fatalf("default limit: broker asked %v", hb.asked)
	}
	if d := a.ok("DELETE", "/api/rooms/r/history", ""); d.str("roomId") != "r" || len(hb.deleted) != 1 {
		t.Fatalf("delete %v, broker %v", d, hb.deleted)
	}
	a.expectError("DELETE", "/api/rooms/%00/history", "", 400, "control_chars")
	a.expectError("GET", "/api/rooms/r/history?before=x", "", 400, "bad_field")
}
