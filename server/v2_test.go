package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/gorilla/websocket"
)

// chatd.v2 among the offered subprotocols selects v2 and is named in the
// 101; anything else, or nothing, is v1 (greeted with connected).
func TestV2Negotiation(t *testing.T) {
	s := startServer(t, nil)
	for _, tc := range []struct {
		offer []string
		v2    bool
	}{
		{[]string{"chatd.v2"}, true},
		{[]string{"soap", "chatd.v2"}, true},
		{[]string{"chatd.v1", "soap"}, false},
		{nil, false},
	} {
		d := websocket.Dialer{Subprotocols: tc.offer}
		ws, resp, err := d.Dial("ws://"+s.Addr()+"/ws", nil)
		if err != nil {
			t.Fatalf("%v: %v", tc.offer, err)
		}
		got := resp.Header.Get("Sec-WebSocket-Protocol")
		if (got == "chatd.v2") != tc.v2 || (!tc.v2 && got != "") {
			t.Fatalf("%v: subprotocol %q", tc.offer, got)
		}
		c := &client{t: t, ws: ws}
		if tc.v2 {
			// Nothing before hello: the first frame is hello's ok.
			v := &v2client{t: t, ws: ws}
			v.send(`{"type":"hello","name":"n","id":"h"}`)
			if m := v.read(); m.str("type") != "ok" || m.str("id") != "h" {
				t.Fatalf("first frame %v", m)
			}
		} else {
			c.expect("connected")
		}
		ws.Close()
	}
}

// Every request with an id gets exactly one reply with that id (numbers and
// strings alike); without an id, success is silent and errors come without
// id; the connection stays open after refusals.
func TestV2RequestsAndReplies(t *testing.T) {
	s := startServer(t, nil)
	c := dialV2(t, s.Addr())
	c.callError(map[string]any{"type": "join", "roomId": "r"}, "hello_first")
	c.send(`{"type":"join","roomId":"r"}`)
	if m := c.expect("error"); m["id"] != nil || m.str("code") != "hello_first" {
		t.Fatalf("error without id: %v", m)
	}
	c.callError(map[string]any{"type": "hello"}, "missing_field")
	c.callError(map[string]any{"type": "hello", "name": strings.Repeat("x", 65)}, "too_long")
	c.callError(map[string]any{"type": "hello", "name": "a\nb"}, "control_chars")
	c.send(`{"type":"hello","name":"alice","id":"str-id"}`)
	if m := c.expect("ok"); m.str("id") != "str-id" || m.str("name") != "alice" {
		t.Fatalf("hello ok %v", m)
	}
	c.callError(map[string]any{"type": "hello", "name": "again"}, "already_hello")

	// Without an id: no ok, but errors still come.
	c.send(`{"type":"join","roomId":"quiet"}`)
	c.send(`{"type":"publish","roomId":"nowhere","content":"x"}`)
	if m := c.expect("error"); m["id"] != nil || m.str("code") != "not_in_room" {
		t.Fatalf("got %v", m)
	}
	// The quiet join happened: publishing there works.
	if m := c.publish("quiet", "hi"); m.str("timestamp") == "" {
		t.Fatalf("publish ok %v", m)
	}

	for _, tc := range []struct {
		raw, code string
		withID    bool
	}{
		{`{"type":"join","roomId":"r","id":{"a":1}}`, "bad_id", false},
		{`{"type":"join","roomId":"r","id":[1]}`, "bad_id", false},
		{`{"type":"join","roomId":"r","id":"` + strings.Repeat("x", 70) + `"}`, "bad_id", false},
		{`{"type":"dance","id":7}`, "unknown_type", true},
		{`{"type":5,"id":7}`, "bad_type", true},
		{`{"type":"join","roomId":5,"id":7}`, "bad_field", true},
		{`{"type":"publish","roomId":"quiet","content":5,"id":7}`, "bad_content", true},
		{`{"type":"publish","roomId":"quiet","content":"","id":7}`, "bad_content", true},
		{`{"type":"join","id":7}`, "missing_field", true},
		{`{"type":"join","roomId":"quiet","id":7}`, "already_in_room", true},
		{`{"type":"join","roomId":"r","history":-1,"id":7}`, "bad_field", true},
		{`{"type":"leave","roomId":"other","id":7}`, "not_in_room", true},
		{`{"type":"presence","roomId":"other","id":7}`, "not_in_room", true},
		{`{"type":"typing","roomId":"other","id":7}`, "not_in_room", true},
		{`not json`, "invalid_json", false},
		{`[1]`, "not_object", false},
	} {
		c.send(tc.raw)
		m := c.expect("error")
		if m.str("code") != tc.code || (tc.withID && m.num("id") != 7) || (!tc.withID && m["id"] != nil) {
			t.Errorf("%s: got %v, want code %s (id %v)", tc.raw, m, tc.code, tc.withID)
		}
	}
	c.sync() // still open and served
}

// Rooms are isolated; a message reaches every member connection but the
// publishing one, which gets the ok; joins and leaves reach the others.
func TestV2MultiRoom(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.RateLimit = -1 })
	a := connectV2(t, s.Addr(), "alice")
	b := connectV2(t, s.Addr(), "bob")
	c := connectV2(t, s.Addr(), "carol")
	if m := a.join("r1"); m.str("roomId") != "r1" || m.num("memberCount") != 1 || m["messages"] == nil {
		t.Fatalf("join ok %v", m)
	}
	a.join("r2")
	if m := b.join("r1"); m.num("memberCount") != 2 {
		t.Fatalf("join ok %v", m)
	}
	if m := a.expect("joined"); m.str("roomId") != "r1" || m.str("userId") != b.userID || m.str("name") != "bob" || m.num("memberCount") != 2 {
		t.Fatalf("joined push %v", m)
	}
	c.join("r2")
	a.expect("joined")

	ok := a.publish("r1", "to r1")
	if m := b.expect("message"); m.str("roomId") != "r1" || m.str("content") != "to r1" || m.str("userId") != a.userID ||
		m.str("name") != "alice" || m.str("timestamp") != ok.str("timestamp") {
		t.Fatalf("message push %v (ok %v)", m, ok)
	}
	c.publish("r2", "to r2")
	if m := a.expect("message"); m.str("roomId") != "r2" || m.str("content") != "to r2" {
		t.Fatalf("a got %v", m)
	}
	// Nothing crossed rooms, and nobody got their own message.
	for _, x := range []*v2client{a, b, c} {
		x.sync()
	}
	// Leave one room, stay in the other.
	a.call(map[string]any{"type": "leave", "roomId": "r1"})
	if m := b.expect("left"); m.str("userId") != a.userID || m.num("memberCount") != 1 || m.str("roomId") != "r1" {
		t.Fatalf("left push %v", m)
	}
	b.publish("r1", "a is gone")
	c.publish("r2", "a is here")
	if m := a.expect("message"); m.str("content") != "a is here" {
		t.Fatalf("a got %v", m)
	}
	// A disconnect is a leave of every room.
	a.ws.Close()
	if m := c.expect("left"); m.str("userId") != a.userID || m.str("roomId") != "r2" {
		t.Fatalf("left push %v", m)
	}
}

// Presence lists the room's users with their names; typing reaches the
// others at most once per interval per connection and room, never the
// typist.
func TestV2PresenceAndTyping(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.RateLimit = -1
		c.TypingInterval = time.Hour
		c.PresenceMax = 2
	})
	a := connectV2(t, s.Addr(), "alice")
	b := connectV2(t, s.Addr(), "bob")
	a.join("p")
	b.join("p")
	a.expect("joined")
	m := a.call(map[string]any{"type": "presence", "roomId": "p"})
	got := map[string]string{}
	for _, e := range m["members"].([]any) {
		e := msg(e.(map[string]any))
		got[e.str("userId")] = e.str("name")
	}
	if len(got) != 2 || got[a.userID] != "alice" || got[b.userID] != "bob" || m.num("memberCount") != 2 || m["truncated"] != nil {
		t.Fatalf("presence %v", m)
	}
	c := connectV2(t, s.Addr(), "carol")
	c.join("p")
	a.expect("joined")
	b.expect("joined")
	if m := a.call(map[string]any{"type": "presence", "roomId": "p"}); len(m["members"].([]any)) != 2 ||
		m.num("memberCount") != 3 || m["truncated"] != true {
		t.Fatalf("presence over the limit %v", m)
	}
	before := scrape(t, s)["chatd_typing_dropped_total"]
	for i := 0; i < 5; i++ {
		a.send(`{"type":"typing","roomId":"p"}`)
	}
	for _, x := range []*v2client{b, c} {
		if m := x.expect("typing"); m.str("userId") != a.userID || m.str("name") != "alice" || m.str("roomId") != "p" {
			t.Fatalf("typing push %v", m)
		}
		x.sync() // only one
	}
	a.sync() // never echoed
	if got := scrape(t, s)["chatd_typing_dropped_total"] - before; got != 4 {
		t.Fatalf("%v typing notices dropped, want 4", got)
	}
}

// A connection is in at most MaxRoomsPerConn rooms; leaving frees a place.
func TestV2RoomsPerConnection(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.MaxRoomsPerConn = 3; c.RateLimit = -1 })
	a := connectV2(t, s.Addr(), "alice")
	for i := 0; i < 3; i++ {
		a.join(fmt.Sprint("room", i))
	}
	a.callError(map[string]any{"type": "join", "roomId": "room3"}, "too_many_rooms")
	a.call(map[string]any{"type": "leave", "roomId": "room1"})
	a.join("room3")
	a.callError(map[string]any{"type": "join", "roomId": "room4"}, "too_many_rooms")
}

// A v1 and a v2 client in one room see each other's messages, joins and
// leaves, each in its own protocol's shape.
func TestV1AndV2InOneRoom(t *testing.T) {
	s := startServer(t, nil)
	checkMixedRoom(t, s, s)
}

func checkMixedRoom(t *testing.T, s1, s2 *server.Server) {
	old := dialChat(t, s1.Addr())
	old.join("mixed", "oldie")
	v := connectV2(t, s2.Addr(), "newbie")
	if m := v.join("mixed"); m.num("memberCount") != 2 {
		t.Fatalf("join ok %v", m)
	}
	if m := old.expect("userJoined"); m.str("username") != "newbie" || m.str("userId") != v.userID || m.num("memberCount") != 2 {
		t.Fatalf("v1 sees %v", m)
	}
	ok := v.publish("mixed", "from v2")
	got := readRaw(old, 5*time.Second)
	want := fmt.Sprintf(`{"type":"message","content":"from v2","username":"newbie","userId":"%s","timestamp":"%s"}`, v.userID, ok.str("timestamp"))
	if string(got) != want {
		t.Fatalf("v1 got %s\nwant %s", got, want)
	}
	old.send(`{"type":"message","content":"from v1"}`)
	echo := old.expect("message")
	if m := v.expect("message"); m.str("content") != "from v1" || m.str("name") != "oldie" || m.str("userId") != old.userID ||
		m.str("roomId") != "mixed" || m.str("timestamp") != echo.str("timestamp") {
		t.Fatalf("v2 got %v", m)
	}
	old.send(`{"type":"leaveRoom"}`)
	if m := v.expect("left"); m.str("userId") != old.userID || m.str("name") != "oldie" || m.num("memberCount") != 1 {
		t.Fatalf("v2 got %v", m)
	}
	old.join("mixed", "oldie")
	v.expect("joined")
	v.ws.Close()
	if m := old.expect("userLeft"); m.str("userId") != v.userID || m.num("memberCount") != 1 {
		t.Fatalf("v1 got %v", m)
	}
}

// v2 paging walks the whole room list once, in id order, whatever the page
// size; a prefix narrows it.
func TestV2RoomsPaging(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.RateLimit = -1; c.RoomListInterval = time.Nanosecond })
	owner := connectV2(t, s.Addr(), "owner")
	want := map[string]bool{}
	for i := 0; i < 25; i++ {
		id := fmt.Sprintf("room-%02d", i)
		if i%5 == 0 {
			id = fmt.Sprintf("team-%02d", i)
		}
		owner.join(id)
		want[id] = true
	}
	for _, limit := range []int{1, 7, 25, 100} {
		seen := map[string]bool{}
		after, last := "", ""
		for pages := 0; ; pages++ {
			if pages > 30 {
				t.Fatal("paging does not end")
			}
			m := owner.call(map[string]any{"type": "rooms", "after": after, "limit": limit})
			for _, r := range m["rooms"].([]any) {
				id := msg(r.(map[string]any)).str("roomId")
				if seen[id] || id <= last {
					t.Fatalf("limit %d: %s twice or out of order", limit, id)
				}
				seen[id], last = true, id
			}
			if m["next"] == nil {
				break
			}
			after = m.str("next")
		}
		if len(seen) != len(want) {
			t.Fatalf("limit %d: %d rooms seen, want %d", limit, len(seen), len(want))
		}
	}
	m := owner.call(map[string]any{"type": "rooms", "prefix": "team-"})
	if rooms := m["rooms"].([]any); len(rooms) != 5 || m["next"] != nil {
		t.Fatalf("prefix: %v", m)
	}
}
