package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/chatd/chatd/server/chat"
)

// The join rule of docs/protocol-v2.md §7: after a join reply with offset N
// the room's live stream starts at N+1, and no push of the room reaches the
// connection before that reply. The chat core adds a joiner to the room's
// local members only on its loop, in the task that writes the reply
// (server/chat/membership.go, enter's finish), so a reply that waits (for
// the node, a join hook, a history read off the loop) holds the room's
// pushes back with it, on either carrier. These tests hold a join at its
// history read while the room is busy, and would catch a joiner made a
// member before its reply is written.

// joinOrder checks one connection's frames against the join rule: no push
// of a room whose join is on its way, and after the reply message offsets
// N+1, N+2, ... with no hole, no copy and nothing out of order.
type joinOrder struct {
	pending map[string]string // join id -> room, for joins not answered yet
	joining map[string]bool   // rooms whose join is not answered yet
	at      map[string]uint64 // room -> the newest offset delivered (the reply's, then each push's)
	epoch   map[string]string
	pushed  int // message pushes taken after their room's reply
}

func newJoinOrder() *joinOrder {
	return &joinOrder{pending: map[string]string{}, joining: map[string]bool{}, at: map[string]uint64{},
		epoch: map[string]string{}}
}

// joinSent records a join request sent with id for room.
func (o *joinOrder) joinSent(id, room string) {
	o.pending[id] = room
	o.joining[room] = true
}

// waiting reports whether a join is still unanswered.
func (o *joinOrder) waiting() bool { return len(o.pending) > 0 }

// see takes the connection's next frame; a non-nil error breaks the rule.
func (o *joinOrder) see(m msg) error {
	room := m.str("roomId")
	if id := m.str("id"); id != "" {
		r, ok := o.pending[id]
		if !ok {
			return nil // the reply to another request
		}
		delete(o.pending, id)
		delete(o.joining, r)
		if m.str("type") != "ok" {
			return fmt.Errorf("join of %s refused: %v", r, m)
		}
		if err := checkReplyMessages(m); err != nil {
			return fmt.Errorf("join of %s: %w", r, err)
		}
		o.at[r], o.epoch[r] = uint64(m.num("offset")), m.str("epoch")
		return nil
	}
	if o.joining[room] {
		return fmt.Errorf("push %v before the reply to the room's join", m)
	}
	switch m.str("type") {
	case "resync":
		delete(o.at, room) // the server says it cannot vouch: nothing to check until a re-join
	case "message":
		at, ok := o.at[room]
		if !ok {
			return nil
		}
		off := uint64(m.num("offset"))
		if m.str("epoch") != o.epoch[room] || off != at+1 {
			return fmt.Errorf("push of %s at %s/%d after %s/%d: want offset %d of the reply's epoch",
				room, m.str("epoch"), off, o.epoch[room], at, at+1)
		}
		o.at[room] = off
		o.pushed++
	}
	return nil
}

// checkReplyMessages checks that a join reply's messages run, without a
// hole, up to its offset.
func checkReplyMessages(m msg) error {
	list, _ := m["messages"].([]any)
	if len(list) == 0 {
		return nil
	}
	first := uint64(msg(list[0].(map[string]any)).num("offset"))
	for i, e := range list {
		if off := uint64(msg(e.(map[string]any)).num("offset")); off != first+uint64(i) {
			return fmt.Errorf("messages of the reply skip from %d to %d", first+uint64(i)-1, off)
		}
	}
	if last := first + uint64(len(list)) - 1; last != uint64(m.num("offset")) {
		return fmt.Errorf("messages end at %d, the reply's offset is %d", last, m.num("offset"))
	}
	return nil
}

// heldSync is the memory broker with the next Sync held before its history
// read until released, as a slow Redis round trip holds it: meanwhile the
// joiner is subscribed and counted in the room, and the room's events go to
// its other members. Once the held Sync returns, after runs: the event it
// publishes is the first the room delivers after the joiner's point, while
// the joiner's loop has yet to run its join.
type heldSync struct {
	*memory.Broker
	mu    sync.Mutex
	gate  chan struct{} // the next Sync waits for it to close
	held  chan struct{} // closed once that Sync waits
	after func()
}

// arm holds the next Sync: held is closed once it waits, release lets it go.
func (b *heldSync) arm(after func()) (held <-chan struct{}, release func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gate, b.held, b.after = make(chan struct{}), make(chan struct{}), after
	gate := b.gate
	return b.held, func() { close(gate) }
}

// Join offers no read in the join's step (Membership.Sync), as the Redis
// broker: the joiner's history read is the Sync above.
func (b *heldSync) Join(m broker.Member, name string, done func(broker.Membership, error)) {
	b.Broker.Join(m, name, func(st broker.Membership, err error) { st.Sync = nil; done(st, err) })
}

func (b *heldSync) Sync(room string, q broker.HistoryQuery, fn func(broker.HistoryResult, error)) {
	b.mu.Lock()
	gate, held, after := b.gate, b.held, b.after
	b.gate, b.held, b.after = nil, nil, nil
	b.mu.Unlock()
	if gate == nil {
		b.Broker.Sync(room, q, fn)
		return
	}
	close(held)
	go func() {
		<-gate
		b.Broker.Sync(room, q, fn)
		after()
	}()
}

// publishSystem publishes content to room as the server API does
// (chat.Node.PublishSystem), straight to the broker.
func (b *heldSync) publishSystem(room, content string) {
	ev := &chat.Event{Kind: chat.EvMessage, Room: room, Content: content, Name: "api", UserID: chat.SystemUserID,
		Timestamp: "2026-01-01T00:00:00.000Z"}
	b.Publish(&broker.Event{Room: room, Body: ev.Body(), Local: ev, Store: true}, nil)
}

// joiner is a v2 connection over either carrier: send writes requests
// (one POST for the stream), read returns the next frame.
type joiner struct {
	send func(reqs ...map[string]any)
	read func() msg
}

func wsJoiner(c *v2client) joiner {
	return joiner{send: func(reqs ...map[string]any) {
		for _, r := range reqs {
			c.send(r)
		}
	}, read: c.read}
}

func streamJoiner(c *streamClient) joiner {
	return joiner{send: func(reqs ...map[string]any) {
		batch := make([]any, len(reqs))
		for i, r := range reqs {
			batch[i] = r
		}
		c.send(batch...)
	}, read: c.read}
}

// A join with since whose history read waits while the room gets messages,
// then is let go while more are published, one of them right behind the
// read: the joiner's first frame of the room is the reply, and the pushes
// that follow continue right after its offset, over a WebSocket and over
// HTTP streaming alike. One event loop: a publisher's ok then proves the
// loop ran the fan-outs before it. The loop's tasks are coalesced, so that
// the joiner's join and the fan-out of the event right behind the read run
// in one batch, in the room's order (a reply written a task after the
// membership would come after that push).
func TestJoinReplyPrecedesPushesWhileItsReadWaits(t *testing.T) {
	for _, carrier := range []string{"websocket", "stream"} {
		t.Run(carrier, func(t *testing.T) {
			b := &heldSync{Broker: memory.New(memory.Options{HistorySize: 100})}
			s := startServer(t, func(c *server.Config) {
				c.Broker, c.Loops, c.RateLimit, c.CoalesceDelay = b, 1, -1, 20*time.Millisecond
			})
			pub := connectV2(t, s.Addr(), "pub")
			epoch := pub.join("r").str("epoch")
			pub.publish("r", "m1")
			var j joiner
			if carrier == "stream" {
				c := openStream(t, s.Addr())
				c.hello("joiner")
				j = streamJoiner(c)
			} else {
				j = wsJoiner(connectV2(t, s.Addr(), "joiner"))
			}

			held, release := b.arm(func() { b.publishSystem("r", "right behind the read") })
			order := newJoinOrder()
			order.joinSent("j", "r")
			j.send(map[string]any{"type": "join", "id": "j", "roomId": "r",
				"since": map[string]any{"epoch": epoch, "offset": 0}})
			select {
			case <-held:
			case <-time.After(5 * time.Second):
				t.Fatal("the join's Sync never came")
			}
			for i := 2; i <= 3; i++ { // while the read waits
				pub.request(map[string]any{"type": "publish", "roomId": "r", "content": fmt.Sprint("m", i)})
			}
			release()
			for i := 4; i <= 6; i++ { // racing the read and the join's task on the loop
				pub.request(map[string]any{"type": "publish", "roomId": "r", "content": fmt.Sprint("m", i)})
			}

			first := j.read()
			if first.str("id") != "j" {
				t.Fatalf("first frame %v, want the join's reply", first)
			}
			if err := order.see(first); err != nil {
				t.Fatal(err)
			}
			if first["recovered"] != true || order.at["r"] < 3 {
				t.Fatalf("reply %v: want recovered, through offset 3 at least", first)
			}
			for order.at["r"] < 7 { // m1..m6 and the one right behind the read
				if err := order.see(j.read()); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
