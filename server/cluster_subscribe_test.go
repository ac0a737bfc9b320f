package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
)

// A node subscribes only to rooms it has members in, keeps the subscription
// for the linger after the last one leaves, then drops it; join/leave churn
// within the linger sends no commands; many rooms at once share commands.
func TestClusterSubscriptionsFollowMembers(t *testing.T) {
	rs := redistest.Start(t)
	const linger = time.Second
	nodes := startCluster(t, rs, 2, func(o *redisbroker.Options) { o.SubscribeLinger = linger })
	A, B := nodes[0], nodes[1]

	a1 := dialChat(t, A.srv.Addr())
	a2 := dialChat(t, A.srv.Addr())
	a1.join("only-a", "a1")
	a2.join("only-a", "a2")
	a1.expect("userJoined")
	bb := dialChat(t, B.srv.Addr())
	bb.join("only-b", "b")
	if n := numSub(t, rs, "only-a"); n != 1 {
		t.Fatalf("NUMSUB room:only-a = %d, want 1 (node A only)", n)
	}
	if n := numSub(t, rs, "only-b"); n != 1 {
		t.Fatalf("NUMSUB room:only-b = %d, want 1 (node B only)", n)
	}

	// B receives nothing of only-a: a2 gets a1's messages (so they were
	// published); then one event in only-b reaches B, and B's count of
	// received events went up by exactly that one.
	before := B.broker.Stats().Received
	for k := 0; k < 10; k++ {
		sendChat(a1, fmt.Sprint("m", k))
	}
	for k := 0; k < 10; k++ {
		// (a1's own userJoined may reach a2, who joined right after it:
		// presence is published asynchronously, as by the reference app.)
		expectSkipping(a2, "message", "userJoined")
	}
	sendChat(bb, "marker")
	waitFor(t, 5*time.Second, "B receives its own room's event", func() bool { return B.broker.Stats().Received > before })
	if got := B.broker.Stats().Received - before; got != 1 {
		t.Fatalf("node B received %d events, want 1 (only its own room's)", got)
	}

	// Leaving: the subscription lingers, then goes.
	a1.send(`{"type":"leaveRoom"}`)
	a2.expect("userLeft")
	cmds := A.broker.Stats()
	left := time.Now()
	a2.send(`{"type":"leaveRoom"}`)
	// Churn within the linger: joins and leaves send no SUBSCRIBE.
	for k := 0; k < 10; k++ {
		a1.send(`{"type":"join","roomId":"only-a","username":"a1"}`)
		expectSkipping(a1, "roomJoined", "userLeft") // a2's leave may arrive after a1 is back
		a1.send(`{"type":"leaveRoom"}`)
	}
	a1.send(`{"type":"getRoomList"}`) // queued behind the leave: proves it finished
	a1.expect("roomList")
	if n := numSub(t, rs, "only-a"); n != 1 && time.Since(left) < linger {
		t.Fatalf("NUMSUB room:only-a = %d right after the last leave, want 1 (linger)", n)
	}
	if st := A.broker.Stats(); st.SubscribeCmds != cmds.SubscribeCmds || st.UnsubscribeCmds != cmds.UnsubscribeCmds {
		t.Fatalf("churn sent commands: before %+v after %+v", cmds, st)
	}
	waitFor(t, linger+3*time.Second, "unsubscribe after the linger", func() bool { return numSub(t, rs, "only-a") == 0 })
	if since := time.Since(left); since < linger {
		t.Fatalf("unsubscribed after %v, before the linger (%v)", since, linger)
	}
	// What stays is the cluster control room every node keeps (control.go).
	waitFor(t, 2*time.Second, "subscription state dropped", func() bool { return A.broker.Stats().Subscribed == 1 })

	// Many rooms at once: fewer SUBSCRIBE commands than rooms.
	const nRooms = 40
	cmds = A.broker.Stats()
	cs := make([]*client, nRooms)
	for i := range cs {
		cs[i] = dialChat(t, A.srv.Addr())
	}
	for i, c := range cs {
		c.send(map[string]string{"type": "join", "roomId": fmt.Sprint("many-", i), "username": "u"})
	}
	for _, c := range cs {
		c.expect("roomJoined")
	}
	st := A.broker.Stats()
	t.Logf("%d rooms joined at once: %d SUBSCRIBE commands", nRooms, st.SubscribeCmds-cmds.SubscribeCmds)
	if st.SubscribeCmds-cmds.SubscribeCmds >= nRooms {
		t.Fatalf("%d SUBSCRIBE commands for %d rooms: not batched", st.SubscribeCmds-cmds.SubscribeCmds, nRooms)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	chans := make([]string, nRooms)
	for i := range chans {
		chans[i] = fmt.Sprint("room:many-", i)
	}
	counts, err := rs.Client().PubSubNumSub(ctx, chans...).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chans {
		if counts[ch] != 1 {
			t.Fatalf("NUMSUB %s = %d, want 1", ch, counts[ch])
		}
	}
}
