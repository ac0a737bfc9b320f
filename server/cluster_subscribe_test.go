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
	bw := dialChat(t, B.srv.Addr())
	bw.join("only-b", "w")
	// Through Redis, after bb's own userJoined (published before bb's
	// roomJoined): B counted both received before bb reads this one.
	bb.expect("userJoined")
	if n := numSub(t, rs, "only-a"); n != 1 {
		t.Fatalf("NUMSUB room:only-a = %d, want 1 (node A only)", n)
	}
	if n := numSub(t, rs, "only-b"); n != 1 {
		t.Fatalf("NUMSUB room:only-b = %d, want 1 (node B only)", n)
	}

	// B receives nothing of only-a: a2 gets a1's messages (so they were
	// published); then one event in only-b reaches B, and B's count of
	// received events went up by exactly that one. B reads one connection
	// from Redis, which delivers in publish order: had B been subscribed to
	// only-a, a1's messages would have been counted before the marker reached
	// bw.
	before := B.broker.Stats().Received
	// a1's own userJoined may reach a2, who joined right after it: presence
	// is published asynchronously, as by the reference app.
	joinedLate := &lateNotice{typ: "userJoined", userID: a1.userID}
	for k := 0; k < 10; k++ {
		sendChat(a1, fmt.Sprint("m", k))
	}
	for k := 0; k < 10; k++ {
		if m := expectPast(a2, "message", joinedLate); m.str("content") != fmt.Sprint("m", k) {
			t.Fatalf("a2 got %v, want m%d", m, k)
		}
	}
	sendChat(bb, "marker")
	if m := expectPast(bw, "message", &lateNotice{typ: "userJoined", userID: bb.userID}); m.str("content") != "marker" {
		t.Fatalf("bw got %v", m)
	}
	if got := B.broker.Stats().Received - before; got != 1 {
		t.Fatalf("node B received %d events, want 1 (only its own room's)", got)
	}

	// Leaving, on a node whose linger outlasts the test: the subscription
	// stays, and join/leave churn sends no SUBSCRIBE or UNSUBSCRIBE.
	C := startClusterNode(t, rs, "C", func(o *redisbroker.Options) { o.SubscribeLinger = time.Hour })
	c1 := dialChat(t, C.srv.Addr())
	c1.join("churn", "c1")
	cmds := C.broker.Stats()
	c1.send(`{"type":"leaveRoom"}`)
	for k := 0; k < 10; k++ {
		c1.join("churn", "c1")
		c1.send(`{"type":"leaveRoom"}`)
	}
	c1.send(`{"type":"getRoomList"}`) // queued behind the leave: proves it finished
	c1.expect("roomList")
	if n := numSub(t, rs, "churn"); n != 1 {
		t.Fatalf("NUMSUB room:churn = %d after the last leave, want 1 (linger)", n)
	}
	if st := C.broker.Stats(); st.SubscribeCmds != cmds.SubscribeCmds || st.UnsubscribeCmds != cmds.UnsubscribeCmds {
		t.Fatalf("churn sent commands: before %+v after %+v", cmds, st)
	}

	// The linger ends: the subscription goes, not before.
	a1.send(`{"type":"leaveRoom"}`)
	a2.expect("userLeft")
	left := time.Now()
	a2.send(`{"type":"leaveRoom"}`)
	waitFor(t, linger+3*time.Second, "unsubscribe after the linger", func() bool { return numSub(t, rs, "only-a") == 0 })
	if since := time.Since(left); since < linger {
		t.Fatalf("unsubscribed after %v, before the linger (%v)", since, linger)
	}
	// What stays is the cluster control room every node keeps (control.go)
	// and its HTTP stream inbox (server/httpstream).
	waitFor(t, 2*time.Second, "subscription state dropped", func() bool { return A.broker.Stats().Subscribed == 2 })

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
