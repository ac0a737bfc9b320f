package server_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/gorilla/websocket"
)

// The join rule under load, on two nodes sharing a Redis, as clients meet it
// when their node was killed: they come back on a node with a new session
// and re-join every room with since, all at once, while the rooms are busy.
// Stream clients POST through the other node (the relay: the joins reach
// the session through the broker, the rooms' pushes come from its own
// node); WebSocket clients re-join alongside. Every connection checks that
// no push of a room precedes the reply to its join, and that pushes then
// continue right after the reply's offset (joinOrder).
func TestStreamClusterJoinReplyFirst(t *testing.T) {
	rs := redistest.Start(t)
	noResume := func(c *server.Config) { c.StreamResume = -1 } // a dropped stream ends its session
	nodes := []*server.Server{startStreamNode(t, rs, "A", noResume), startStreamNode(t, rs, "B", noResume)}
	rooms := []string{"busy0", "busy1", "busy2", "busy3"}
	stop := make(chan struct{})
	var published atomic.Int64
	var wg sync.WaitGroup
	for i, n := range nodes {
		p := connectV2(t, n.Addr(), fmt.Sprint("pub", i))
		for _, r := range rooms {
			p.request(map[string]any{"type": "join", "roomId": r})
		}
		wg.Add(1)
		go func() { defer wg.Done(); storm(p.ws, rooms, stop, &published) }()
	}
	defer func() { close(stop); wg.Wait() }()

	const streams, sockets, rounds = 6, 2, 6
	pos := map[string]map[string]any{} // client/room -> the since of its next join
	var joins, withSince, pushed int
	for round := range rounds {
		type conn struct {
			name  string
			j     joiner
			order *joinOrder
			close func()
		}
		var conns []conn
		for i := range streams + sockets {
			name := fmt.Sprint("c", i)
			home, other := nodes[(i+round)%2], nodes[(i+round+1)%2]
			var c conn
			if i < streams {
				s := openStream(t, home.Addr(), other.Addr())
				s.hello(name)
				c = conn{name, streamJoiner(s), newJoinOrder(), func() { _ = s.conn.Close() }}
			} else {
				w := connectV2(t, home.Addr(), name)
				c = conn{name, wsJoiner(w), newJoinOrder(), func() { _ = w.ws.Close() }}
			}
			var batch []map[string]any
			for _, r := range rooms {
				req := map[string]any{"type": "join", "id": r, "roomId": r, "history": 5}
				if since := pos[name+"/"+r]; since != nil {
					req["since"] = since
					withSince++
				}
				c.order.joinSent(r, r)
				batch = append(batch, req)
			}
			c.j.send(batch...) // every join of the connection on its way at once
			conns = append(conns, c)
		}
		for _, c := range conns {
			// Up to every reply, then to the reply of a request sent after
			// them: whatever was pushed before it has arrived.
			for c.order.waiting() {
				if err := c.order.see(c.j.read()); err != nil {
					t.Fatalf("round %d, %s: %v", round, c.name, err)
				}
			}
			c.j.send(map[string]any{"type": "leave", "id": "sync", "roomId": "not-a-room-of-mine"})
			for {
				m := c.j.read()
				if m.str("id") == "sync" {
					break
				}
				if err := c.order.see(m); err != nil {
					t.Fatalf("round %d, %s: %v", round, c.name, err)
				}
			}
			for _, r := range rooms {
				pos[c.name+"/"+r] = map[string]any{"epoch": c.order.epoch[r], "offset": c.order.at[r]}
			}
			joins += len(rooms)
			pushed += c.order.pushed
			c.close() // as its node's death would: the next round comes back elsewhere
		}
	}
	if pushed == 0 || published.Load() < int64(rounds) {
		t.Fatalf("no storm: %d published, %d pushes after the replies", published.Load(), pushed)
	}
	t.Logf("%d joins (%d with since), %d messages published meanwhile, %d pushes checked after their replies",
		joins, withSince, published.Load(), pushed)
}

// storm publishes to rooms in turn over ws (a v2 connection in every room)
// until stop, and reads and drops what the connection gets meanwhile.
func storm(ws *websocket.Conn, rooms []string, stop <-chan struct{}, published *atomic.Int64) {
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(2 * time.Millisecond):
		}
		b, _ := json.Marshal(map[string]any{"type": "publish", "roomId": rooms[i%len(rooms)], "content": fmt.Sprint("s", i)})
		if ws.WriteMessage(websocket.TextMessage, b) != nil {
			return
		}
		published.Add(1)
	}
}
