package server_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/memory"
)

// afterSync is the memory broker with one event handed to the node right
// after a Sync's fn returned, as the seam allows ("every later one is
// handed to it after fn returns"): the event that follows a joiner's
// history read, before the joiner's loop has run its join.
type afterSync struct {
	*memory.Broker
	recv  broker.Receiver
	armed atomic.Bool
}

func (b *afterSync) Start(r broker.Receiver) error { b.recv = r; return b.Broker.Start(r) }

// Join offers no read in the join's step (Membership.Sync), as the Redis
// broker: the joiner's history read is the Sync below.
func (b *afterSync) Join(m broker.Member, name string, done func(broker.Membership, error)) {
	b.Broker.Join(m, name, func(st broker.Membership, err error) { st.Sync = nil; done(st, err) })
}

func (b *afterSync) Sync(room string, q broker.HistoryQuery, fn func(broker.HistoryResult, error)) {
	var pos broker.Position
	b.Broker.Sync(room, q, func(res broker.HistoryResult, err error) { pos = res.Position; fn(res, err) })
	if b.armed.CompareAndSwap(true, false) {
		_ = b.recv.Receive(room, fmt.Sprintf(`{"type":"message","content":"next","username":"pub","userId":"p",`+
			`"timestamp":"2026-01-01T00:00:00.000Z","offset":%d,"epoch":%q}`, pos.Offset+1, pos.Epoch))
	}
}

// After a v2 join's reply (epoch E, offset N), the room's next message
// (N+1) reaches the joiner, also when it is delivered before the joiner's
// loop has run the join, and the joiner is the room's first v2 member on
// this node (so that nothing else made the room fan out to v2 members on
// that loop). Before the fix it was lost: a silent hole right after the
// reply.
func TestJoinGetsWhatFollowsItsReply(t *testing.T) {
	b := &afterSync{Broker: memory.New(memory.Options{HistorySize: 10})}
	s := startServer(t, func(c *server.Config) { c.Broker = b; c.RateLimit = -1 })
	old := dialChat(t, s.Addr()) // a v1 member: the room exists on this node
	old.join("r", "oldie")
	old.send(map[string]string{"type": "message", "content": "first"})
	old.expect("message")
	j := connectV2(t, s.Addr(), "joiner")
	b.armed.Store(true)
	reply := j.join("r")
	if reply.num("offset") != 1 || reply.str("epoch") == "" {
		t.Fatalf("join %v", reply)
	}
	if m := j.expect("message"); m.num("offset") != 2 || m.str("epoch") != reply.str("epoch") || m.str("content") != "next" {
		t.Fatalf("first push after the reply: %v, want offset 2 of epoch %s", m, reply.str("epoch"))
	}
}
