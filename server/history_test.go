package server_test

import (
	"fmt"
	"testing"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker/memory"
)

// offsetsOf returns the offsets of a join or history result's messages.
func offsetsOf(t testing.TB, m msg) []int {
	t.Helper()
	var out []int
	for _, e := range m["messages"].([]any) {
		e := msg(e.(map[string]any))
		if e.str("type") != "message" || e.str("roomId") == "" || e.str("epoch") == "" {
			t.Fatalf("a history entry is not a message push: %v", e)
		}
		out = append(out, e.num("offset"))
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func equalInts(a, b []int) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// Messages get offsets 1, 2, 3, ... per room; a join with history returns
// the newest; history pages back; v1 messages are stored too.
func TestHistoryJoinAndPaging(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.RateLimit = -1
		c.Broker = memory.New(memory.Options{HistorySize: 30})
	})
	a := connectV2(t, s.Addr(), "alice")
	// (Already the epoch of its first messages: recovery_epoch_test.go.)
	if m := a.join("h"); m.str("epoch") == "" || m.num("offset") != 0 || len(m["messages"].([]any)) != 0 {
		t.Fatalf("join of a room without history: %v", m)
	}
	old := dialChat(t, s.Addr())
	old.join("h", "oldie")
	a.expect("joined")
	for i := 1; i <= 40; i++ {
		if i%2 == 0 {
			old.send(map[string]string{"type": "message", "content": fmt.Sprint("v1 ", i)})
			old.expect("message")
			if m := a.expect("message"); m.num("offset") != i {
				t.Fatalf("push %v, want offset %d", m, i)
			}
		} else if ok := a.publish("h", fmt.Sprint("v2 ", i)); ok.num("offset") != i {
			t.Fatalf("publish ok %v, want offset %d", ok, i)
		}
	}
	b := connectV2(t, s.Addr(), "bob")
	m := b.call(map[string]any{"type": "join", "roomId": "h", "history": 5})
	if got := offsetsOf(t, m); !equalInts(got, seq(36, 40)) || m.num("offset") != 40 || m.str("epoch") == "" {
		t.Fatalf("join with history 5: %v at %d", got, m.num("offset"))
	}
	if e := m["messages"].([]any)[4].(map[string]any); e["content"] != "v1 40" || e["name"] != "oldie" {
		t.Fatalf("newest entry %v", e)
	}
	page := b.call(map[string]any{"type": "history", "roomId": "h", "before": 36, "limit": 10})
	if got := offsetsOf(t, page); !equalInts(got, seq(26, 35)) {
		t.Fatalf("history before 36: %v", got)
	}
	page = b.call(map[string]any{"type": "history", "roomId": "h", "before": 15, "limit": 10})
	if got := offsetsOf(t, page); !equalInts(got, seq(11, 14)) {
		t.Fatalf("history before 15 (30 kept): %v", got)
	}
	b.callError(map[string]any{"type": "history", "roomId": "elsewhere"}, "not_in_room")
	b.callError(map[string]any{"type": "join", "roomId": "x", "history": -1}, "bad_field")
}

// A client that drops, misses 50 messages and comes back with since gets
// exactly those 50, then the live ones; too far back, or from another
// epoch, it is told it did not recover and gets the newest.
func TestRecoveryAfterReconnect(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.RateLimit = -1
		c.Broker = memory.New(memory.Options{HistorySize: 100})
	})
	checkRecovery(t, s.Addr(), s.Addr(), 100)
}

// checkRecovery runs the reconnect-recovery scenario: the publisher on
// addrA, the recovering client on addrB, a history of size messages.
func checkRecovery(t *testing.T, addrA, addrB string, size int) {
	pub := connectV2(t, addrA, "pub")
	pub.join("rec")
	c := connectV2(t, addrB, "carol")
	c.join("rec")
	pub.expect("joined")
	for i := 1; i <= 10; i++ {
		pub.publish("rec", fmt.Sprint(i))
	}
	var epoch string
	for i := 1; i <= 10; i++ {
		m := c.expect("message")
		epoch = m.str("epoch")
		if m.num("offset") != i {
			t.Fatalf("push %v, want offset %d", m, i)
		}
	}
	c.ws.Close()
	pub.expect("left")
	for i := 11; i <= 60; i++ {
		pub.publish("rec", fmt.Sprint(i))
	}
	c2 := connectV2(t, addrB, "carol")
	m := c2.call(map[string]any{"type": "join", "roomId": "rec", "since": map[string]any{"epoch": epoch, "offset": 10},
		"history": 5})
	// On another node than the publisher's, the reply may end before the
	// newest acknowledged publish, which had not reached that node yet (a
	// join reads at the node's delivered position): the rest follow as
	// pushes, so the reply and its pushes hold 11..60, each once.
	got := offsetsOf(t, m)
	last := m.num("offset")
	if m["recovered"] != true || last < 10 || last > 60 || !equalInts(got, seq(11, last)) ||
		(addrA == addrB && last != 60) {
		t.Fatalf("recovery: recovered %v, %v at %d", m["recovered"], got, last)
	}
	for o := last + 1; o <= 60; o++ {
		if p := c2.expect("message"); p.num("offset") != o || p.str("epoch") != epoch {
			t.Fatalf("push after the recovery's reply: %v, want offset %d", p, o)
		}
	}
	pub.expect("joined")
	pub.publish("rec", "live")
	if m := c2.expect("message"); m.num("offset") != 61 || m.str("content") != "live" {
		t.Fatalf("after recovery: %v", m)
	}
	c2.sync() // no duplicate of anything
	// Too far back for the history, or another epoch: not recovered.
	for i := 62; i <= size+20; i++ {
		pub.publish("rec", fmt.Sprint(i))
	}
	for i := 62; i <= size+20; i++ { // (carol is on dora's node: it has them all now)
		if m := c2.expect("message"); m.num("offset") != i {
			t.Fatalf("push %v, want offset %d", m, i)
		}
	}
	for _, since := range []map[string]any{{"epoch": epoch, "offset": 5}, {"epoch": "not-" + epoch, "offset": 60}} {
		d := connectV2(t, addrB, "dora")
		m := d.call(map[string]any{"type": "join", "roomId": "rec", "since": since, "history": 3})
		if got := offsetsOf(t, m); m["recovered"] != false || !equalInts(got, seq(size+18, size+20)) {
			t.Fatalf("since %v: recovered %v, %v", since, m["recovered"], got)
		}
		d.ws.Close()
	}
}
