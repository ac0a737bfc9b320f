package server_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
)

// A message reaches only its own room.
func TestRoomIsolation(t *testing.T) {
	s := startServer(t, nil)
	a1, a2 := connect(t, s), connect(t, s)
	b1, b2 := connect(t, s), connect(t, s)
	a1.join("A", "a1")
	a2.join("A", "a2")
	a1.expect("userJoined")
	b1.join("B", "b1")
	b2.join("B", "b2")
	b1.expect("userJoined")

	a1.send(`{"type":"message","content":"for A only"}`)
	a1.expect("message")
	if m := a2.expect("message"); m.str("content") != "for A only" {
		t.Fatal(m)
	}
	// b1's message reaches b2 through the same per-loop queue a wrongly
	// delivered A message would have taken: it must be the first thing b2 sees.
	b1.send(`{"type":"message","content":"for B"}`)
	if m := b2.expect("message"); m.str("content") != "for B" {
		t.Fatalf("b2 got %v before the B message", m)
	}
	if m := b1.expect("message"); m.str("content") != "for B" {
		t.Fatalf("b1 got %v", m)
	}
}

// Joining another room leaves the current one: its members get userLeft,
// the new room's members get userJoined, and the leaver hears neither.
func TestRejoinElsewhere(t *testing.T) {
	s := startServer(t, nil)
	a, b, c := connect(t, s), connect(t, s), connect(t, s)
	a.join("one", "alice")
	b.join("one", "bob")
	a.expect("userJoined")
	c.join("two", "carol")

	if m := b.join("two", "bob"); m.num("memberCount") != 2 {
		t.Fatalf("roomJoined %v", m)
	}
	if m := a.expect("userLeft"); m.str("userId") != b.userID || m.num("memberCount") != 1 {
		t.Fatalf("userLeft %v", m)
	}
	if m := c.expect("userJoined"); m.str("userId") != b.userID || m.num("memberCount") != 2 {
		t.Fatalf("userJoined %v", m)
	}
	// Messages in room one no longer reach bob; room two's do.
	a.send(`{"type":"message","content":"one"}`)
	a.expect("message")
	c.send(`{"type":"message","content":"two"}`)
	c.expect("message")
	if m := b.expect("message"); m.str("content") != "two" {
		t.Fatalf("bob got %v", m)
	}
	// A user may change name on re-join.
	b.send(`{"type":"join","roomId":"two","username":"robert"}`)
	b.expect("roomJoined")
	if m := c.expect("userLeft"); m.str("username") != "bob" {
		t.Fatal(m)
	}
	if m := c.expect("userJoined"); m.str("username") != "robert" || m.num("memberCount") != 2 {
		t.Fatal(m)
	}
}

// Leave and re-join on the same connection; disconnect announces userLeft
// exactly once, also for a member who is in no room no announcement at all.
func TestLeaveRejoinDisconnect(t *testing.T) {
	s := startServer(t, nil)
	a, b := connect(t, s), connect(t, s)
	a.join("r", "alice")
	b.join("r", "bob")
	a.expect("userJoined")
	for i := 0; i < 3; i++ {
		b.send(`{"type":"leaveRoom"}`)
		if m := a.expect("userLeft"); m.num("memberCount") != 1 {
			t.Fatal(m)
		}
		b.send(`{"type":"message","content":"x"}`)
		b.expectError("Join a room first", "not_in_room")
		b.join("r", "bob")
		if m := a.expect("userJoined"); m.num("memberCount") != 2 {
			t.Fatal(m)
		}
	}
	// leaveRoom outside a room is silent.
	idle := connect(t, s)
	idle.send(`{"type":"leaveRoom"}`)
	idle.ws.Close()

	b.ws.Close()
	if m := a.expect("userLeft"); m.str("userId") != b.userID || m.num("memberCount") != 1 {
		t.Fatal(m)
	}
	// Nothing else was announced: the next event alice sees is this join.
	c := connect(t, s)
	c.join("r", "carol")
	if m := a.expect("userJoined"); m.str("username") != "carol" || m.num("memberCount") != 2 {
		t.Fatal(m)
	}
}

// A message sent right after join, before roomJoined arrived, is handled
// after the join, not refused.
func TestMessageRightAfterJoin(t *testing.T) {
	s := startServer(t, nil)
	a := connect(t, s)
	a.join("fast", "alice")
	b := connect(t, s)
	b.send(`{"type":"join","roomId":"fast","username":"bob"}`)
	b.send(`{"type":"message","content":"first!"}`)
	b.send(`{"type":"getRoomList"}`)
	b.expect("roomJoined")
	if m := b.expect("message"); m.str("content") != "first!" {
		t.Fatal(m)
	}
	if m := b.expect("roomList"); len(m["rooms"].([]any)) != 1 {
		t.Fatal(m)
	}
	a.expect("userJoined")
	if m := a.expect("message"); m.str("content") != "first!" {
		t.Fatal(m)
	}
}

// One sender's messages arrive in order, and every member sees the room's
// messages (from others) in one order.
func TestOrdering(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.RateLimit = -1 })
	const members, perSender = 6, 150
	cs := make([]*client, members)
	for i := range cs {
		cs[i] = connect(t, s)
		cs[i].join("order", "u"+strconv.Itoa(i))
	}
	// Drain the join notices: member i sees members-1-i userJoined.
	for i := range cs {
		for j := i + 1; j < members; j++ {
			cs[i].expect("userJoined")
		}
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < perSender; k++ {
				if err := c.ws.WriteMessage(1, []byte(fmt.Sprintf(`{"type":"message","content":"%d:%d"}`, i, k))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	seqs := make([][]string, members)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := make([]int, members)
			for n := 0; n < members*perSender; n++ {
				_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
				var m msg
				if err := c.ws.ReadJSON(&m); err != nil {
					t.Errorf("member %d after %d: %v", i, n, err)
					return
				}
				from, k, _ := strings.Cut(m.str("content"), ":")
				f, _ := strconv.Atoi(from)
				if kk, _ := strconv.Atoi(k); kk != next[f] {
					t.Errorf("member %d: from %d got %d want %d", i, f, kk, next[f])
					return
				}
				next[f]++
				if f != i {
					seqs[i] = append(seqs[i], m.str("content"))
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Same order: for each pair, the messages neither of them sent appear in
	// the same order.
	for i := 0; i < members; i++ {
		for j := i + 1; j < members; j++ {
			oi, oj := others(seqs[i], j), others(seqs[j], i)
			if strings.Join(oi, ",") != strings.Join(oj, ",") {
				t.Fatalf("members %d and %d saw different orders", i, j)
			}
		}
	}
}

// others drops the messages sent by member x.
func others(seq []string, x int) []string {
	p := strconv.Itoa(x) + ":"
	var out []string
	for _, s := range seq {
		if !strings.HasPrefix(s, p) {
			out = append(out, s)
		}
	}
	return out
}
