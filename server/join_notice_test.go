package server_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/chatd/chatd/server/chat"
)

// noticeAfterJoin is the memory broker that, right after the cluster
// recorded the join of user, before the joiner's loop ran its part of the
// join, announces that another user joined the room (as a user joining on
// another loop or node just then does).
type noticeAfterJoin struct {
	*memory.Broker
	user atomic.Value // string: set by the test, read on the loop
}

func (b *noticeAfterJoin) Join(m broker.Member, name string, done func(broker.Membership, error)) {
	var st broker.Membership
	b.Broker.Join(m, name, func(s broker.Membership, err error) { st = s; done(s, err) }) // (done runs within)
	if u, _ := b.user.Load().(string); m.User == u {
		ev := &chat.Event{Kind: chat.EvJoined, Room: m.Room, Name: "late", UserID: "late-user1", Count: st.Count + 1}
		b.Publish(&broker.Event{Room: m.Room, Body: ev.Body(), Local: ev}, nil)
	}
}

// A joined notice fanned out after a v1 join was recorded, while the
// joiner's loop has yet to add it to the room (the loop holds its tasks
// for a second: -coalesce-delay), reaches the joiner: the join reserves the
// room's place on its loop first. Without that, a joiner alone in the room
// on its loop missed it, and kept a member count one short.
func TestJoinGetsNoticeFannedOutBeforeItsLoopJoined(t *testing.T) {
	b := &noticeAfterJoin{Broker: memory.New(memory.Options{})}
	s := startServer(t, func(c *server.Config) { c.Broker, c.Loops, c.CoalesceDelay = b, 1, time.Second })
	x := connect(t, s)
	b.user.Store(x.userID)
	if m := x.join("r", "x"); m.num("memberCount") != 1 {
		t.Fatalf("join %v", m)
	}
	if m := x.expect("userJoined"); m.str("userId") != "late-user1" || m.num("memberCount") != 2 {
		t.Fatalf("got %v, want the late user's userJoined with count 2", m)
	}
}
