package server_test

import (
	"strings"
	"testing"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker/memory"
)

// A history page or a join's messages never exceed half of the outbound
// limit: with 20 stored messages of 60 KB (1.2 MB), the reply holds the
// newest that fit, the requester stays connected, paging back with before
// reaches the first message, and a recovery that could not fit says
// recovered: false. (The room's history is not bounded in bytes here:
// -history-room-bytes, 128 KiB by default, would keep two of them.)
func TestStoredMessagesRepliesBounded(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.Broker = memory.New(memory.Options{HistoryRoomBytes: -1}) })
	pub := connectV2(t, s.Addr(), "pub")
	pub.join("big")
	body := strings.Repeat("x", 60000)
	for i := 0; i < 20; i++ {
		pub.publish("big", body)
	}
	c := connectV2(t, s.Addr(), "reader")
	join := c.call(map[string]any{"type": "join", "roomId": "big", "history": 20})
	epoch := join.str("epoch")
	first := checkNewest(t, join, 20)
	// Paging back reaches offset 1, each message once.
	seen := 20 - first + 1
	before := first
	for before > 1 {
		h := c.call(map[string]any{"type": "history", "roomId": "big", "before": before, "limit": 20})
		n := checkNewest(t, h, before-1)
		seen += before - n
		before = n
	}
	if seen != 20 {
		t.Fatalf("%d messages seen paging back, want 20", seen)
	}
	// A recovery of all 20 cannot fit: recovered false, the newest that fit.
	r := connectV2(t, s.Addr(), "recoverer")
	rec := r.call(map[string]any{"type": "join", "roomId": "big", "since": map[string]any{"epoch": epoch, "offset": 0}})
	if rec["recovered"] != false {
		t.Fatalf("recovered %v, want false: the reply could not hold all 20", rec["recovered"])
	}
	checkNewest(t, rec, 20)
	// One that fits is recovered.
	r2 := connectV2(t, s.Addr(), "recoverer2")
	rec = r2.call(map[string]any{"type": "join", "roomId": "big", "since": map[string]any{"epoch": epoch, "offset": 18}})
	if rec["recovered"] != true || checkNewest(t, rec, 20) != 19 {
		t.Fatalf("recovery of two: %v", rec["recovered"])
	}
	c.nextID++ // still connected (the joined notices of the recoverers come first)
	c.send(map[string]any{"type": "leave", "roomId": "big", "id": c.nextID})
	if m := replyTo(c, c.nextID); m.str("type") != "ok" {
		t.Fatalf("leave: %v", m)
	}
}

// checkNewest checks that a reply's messages are contiguous offsets ending
// at last, within half of the default outbound limit, and returns the first.
func checkNewest(t *testing.T, m msg, last int) int {
	t.Helper()
	msgs := m["messages"].([]any)
	if len(msgs) == 0 || len(msgs) >= 20 {
		t.Fatalf("%d messages in a reply", len(msgs))
	}
	size := 0
	first := msg(msgs[0].(map[string]any)).num("offset")
	for i, x := range msgs {
		mm := msg(x.(map[string]any))
		if mm.num("offset") != first+i {
			t.Fatalf("offsets not contiguous at %d", i)
		}
		size += len(mm.str("content")) + 200
	}
	if first+len(msgs)-1 != last {
		t.Fatalf("messages end at %d, want %d", first+len(msgs)-1, last)
	}
	if size > 512<<10 {
		t.Fatalf("reply of ~%d bytes, over half the outbound limit", size)
	}
	return first
}
