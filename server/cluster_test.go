package server_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chatd/chatd/server/internal/redistest"
)

// Three nodes on one Redis: joins, counts, one order of messages for every
// member, room lists, and a join/message/leave spread over the nodes.
func TestClusterThreeNodes(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs, 3, nil)

	// Two members per node in one room; every earlier member, whatever its
	// node, hears each join with the cluster-wide count.
	var members []*client
	lobbyOut := noticesOut(t, rs, "lobby")
	for i := 0; i < 6; i++ {
		c := dialChat(t, nodes[i%3].srv.Addr())
		name := fmt.Sprintf("user%d", i)
		if m := c.join("lobby", name); m.num("memberCount") != i+1 {
			t.Fatalf("join %d: count %v", i, m)
		}
		for _, p := range members {
			m := p.expect("userJoined")
			if m.str("username") != name || m.str("userId") != c.userID || m.num("memberCount") != i+1 {
				t.Fatalf("userJoined %v, want %s count %d", m, name, i+1)
			}
		}
		lobbyOut(c.userID) // (the next joiner's node may not be in the room yet)
		members = append(members, c)
	}

	// Three senders, one per node, send concurrently.
	const perSender = 40
	senders := members[:3]
	var wg sync.WaitGroup
	for i, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < perSender; k++ {
				if err := s.ws.WriteJSON(map[string]string{"type": "message", "content": fmt.Sprintf("s%d-%d", i, k)}); err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := perSender * len(senders)
	seqs := make([][]string, len(members)) // what each member got from others
	for i, c := range members {
		own := 0
		for n := 0; n < total; n++ {
			m := c.expect("message")
			content := m.str("content")
			if i < 3 && strings.HasPrefix(content, fmt.Sprintf("s%d-", i)) {
				if content != fmt.Sprintf("s%d-%d", i, own) {
					t.Fatalf("member %d: own echo %q out of order (want s%d-%d)", i, content, i, own)
				}
				own++
				continue
			}
			seqs[i] = append(seqs[i], content)
		}
	}
	// Every member that did not send saw all messages in one order; every
	// sender saw the others' messages in that same order.
	ref := seqs[3]
	if len(ref) != total {
		t.Fatalf("member 3 got %d messages, want %d", len(ref), total)
	}
	for i := range members {
		want := ref
		if i < 3 {
			prefix := fmt.Sprintf("s%d-", i)
			want = slices.DeleteFunc(slices.Clone(ref), func(s string) bool { return strings.HasPrefix(s, prefix) })
		}
		if !slices.Equal(seqs[i], want) {
			t.Fatalf("member %d saw another order:\n got %v\nwant %v", i, seqs[i], want)
		}
	}
	// Per-sender order within the common order.
	next := make([]int, 3)
	for _, s := range ref {
		var i, k int
		fmt.Sscanf(s, "s%d-%d", &i, &k)
		if k != next[i] {
			t.Fatalf("sender %d's messages out of order: %q after %d", i, s, next[i])
		}
		next[i]++
	}
	// Exactly once: after a final marker, nothing else was queued before it.
	sendChat(members[3], "marker")
	for i, c := range members {
		if i == 3 {
			continue
		}
		if m := c.expect("message"); m.str("content") != "marker" {
			t.Fatalf("member %d: got %v, want the marker (duplicate delivery?)", i, m)
		}
	}

	// Room lists agree on every node.
	other := dialChat(t, nodes[1].srv.Addr())
	other.join("second", "late")
	var lists []string
	for i := 3; i < 6; i++ {
		rooms := roomList(members[i])
		if len(rooms) != 2 || rooms[0].str("roomId") != "lobby" || rooms[0].num("memberCount") != 6 ||
			rooms[1].str("roomId") != "second" || rooms[1].num("memberCount") != 1 {
			t.Fatalf("node %d room list %v", i%3, rooms)
		}
		lists = append(lists, roomsString(rooms))
	}
	if lists[0] != lists[1] || lists[1] != lists[2] {
		t.Fatalf("room lists differ: %q", lists)
	}

	// Join on A, message on B, leave on C.
	x := dialChat(t, nodes[0].srv.Addr())
	y := dialChat(t, nodes[1].srv.Addr())
	z := dialChat(t, nodes[2].srv.Addr())
	abcOut := noticesOut(t, rs, "abc")
	if m := x.join("abc", "x"); m.num("memberCount") != 1 {
		t.Fatalf("x %v", m)
	}
	abcOut(x.userID)
	if m := y.join("abc", "y"); m.num("memberCount") != 2 {
		t.Fatalf("y %v", m)
	}
	if m := x.expect("userJoined"); m.str("userId") != y.userID || m.num("memberCount") != 2 {
		t.Fatalf("x got %v", m)
	}
	abcOut(y.userID)
	if m := z.join("abc", "z"); m.num("memberCount") != 3 {
		t.Fatalf("z %v", m)
	}
	for _, c := range []*client{x, y} {
		if m := c.expect("userJoined"); m.str("userId") != z.userID || m.num("memberCount") != 3 {
			t.Fatalf("got %v", m)
		}
	}
	sendChat(y, "from B")
	for _, c := range []*client{x, z} {
		if m := c.expect("message"); m.str("content") != "from B" || m.str("userId") != y.userID || m.str("username") != "y" {
			t.Fatalf("got %v", m)
		}
	}
	z.send(`{"type":"leaveRoom"}`)
	for _, c := range []*client{x, y} {
		if m := c.expect("userLeft"); m.str("userId") != z.userID || m.str("username") != "z" || m.num("memberCount") != 2 {
			t.Fatalf("got %v", m)
		}
	}
	for _, c := range []*client{x, z, members[5]} {
		rooms := roomList(c)
		var abc msg
		for _, r := range rooms {
			if r.str("roomId") == "abc" {
				abc = r
			}
		}
		if abc == nil || abc.num("memberCount") != 2 {
			t.Fatalf("room list %v", rooms)
		}
	}
	// A disconnect is announced without excludeUserId, to everyone left.
	y.ws.Close()
	if m := x.expect("userLeft"); m.str("userId") != y.userID || m.num("memberCount") != 1 {
		t.Fatalf("got %v", m)
	}
	// Each node's Redis metrics saw the traffic.
	for i, n := range nodes {
		m := scrape(t, n.srv)
		if m["chatd_redis_up"] != 1 || m["chatd_redis_published_total"] == 0 || m["chatd_redis_received_total"] == 0 ||
			m["chatd_redis_publish_seconds_count"] == 0 || m["chatd_redis_publish_errors_total"] != 0 {
			t.Fatalf("node %d redis metrics: up %v published %v received %v trips %v errors %v", i, m["chatd_redis_up"],
				m["chatd_redis_published_total"], m["chatd_redis_received_total"], m["chatd_redis_publish_seconds_count"],
				m["chatd_redis_publish_errors_total"])
		}
	}
}
