package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/gorilla/websocket"
)

// pump reads a client's messages in the background into a channel, so a
// test can keep traffic flowing while it does other things.
type pump struct {
	ch   chan msg
	errs atomic.Int64 // error replies with code cluster_unavailable
}

func startPump(t *testing.T, c *client) *pump {
	p := &pump{ch: make(chan msg, 100000)}
	_ = c.ws.SetReadDeadline(time.Now().Add(60 * time.Second)) // the pump outlives the helpers' 5 s reads
	go func() {
		for {
			_, b, err := c.ws.ReadMessage()
			if err != nil {
				close(p.ch)
				return
			}
			var m msg
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			if m.str("type") == "error" && m.str("code") == "cluster_unavailable" {
				p.errs.Add(1)
			}
			p.ch <- m
		}
	}()
	return p
}

// next returns the next message satisfying ok, failing after d.
func (p *pump) next(t *testing.T, d time.Duration, what string, ok func(msg) bool) msg {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, open := <-p.ch:
			if !open {
				t.Fatalf("connection closed waiting for %s", what)
			}
			if ok(m) {
				return m
			}
		case <-timer.C:
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

func readyz(addr string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Redis killed and restarted (empty) while messages flow: nothing crashes,
// senders are told their messages did not go out, requests needing Redis
// fail with cluster_unavailable, and once Redis is back the nodes
// re-subscribe every room and re-register their members by themselves.
func TestClusterRedisRestart(t *testing.T) {
	rs := redistest.Start(t)
	nodes := startCluster(t, rs, 2, nil)
	A, B := nodes[0], nodes[1]
	rooms := []string{"r1", "r2", "r3"}
	senders := make([]*client, len(rooms))   // on A
	receivers := make([]*client, len(rooms)) // on B
	for i, r := range rooms {
		senders[i] = dialChat(t, A.srv.Addr())
		senders[i].join(r, "s"+r)
		receivers[i] = dialChat(t, B.srv.Addr())
		receivers[i].join(r, "r"+r)
		senders[i].expect("userJoined")
	}
	leaver := dialChat(t, B.srv.Addr())
	leaver.join("r1", "leaver")
	senders[0].expect("userJoined")
	receivers[0].expect("userJoined")

	// Continuous traffic in r2 from A to B.
	chatter, listener := senders[1], receivers[1]
	chat, heard := startPump(t, chatter), startPump(t, listener)
	var seq atomic.Int64
	stop := make(chan struct{})
	var stopOnce sync.Once
	var wg sync.WaitGroup
	stopChatter := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			n := seq.Add(1)
			if err := chatter.ws.WriteMessage(websocket.TextMessage,
				[]byte(`{"type":"message","content":"`+strconv.FormatInt(n, 10)+`"}`)); err != nil {
				t.Errorf("chatter: %v", err)
				return
			}
		}
	}()
	defer stopChatter()
	isMsg := func(m msg) bool { return m.str("type") == "message" }
	heard.next(t, 5*time.Second, "traffic before the outage", isMsg)

	// Outage.
	rs.Kill()
	killed := time.Now()
	waitFor(t, 10*time.Second, "both nodes unhealthy", func() bool { return !A.broker.Healthy() && !B.broker.Healthy() })
	t.Logf("outage noticed after %v", time.Since(killed).Round(time.Millisecond))
	if code := readyz(A.srv.Addr()); code != 503 {
		t.Fatalf("/readyz during the outage: %d, want 503", code)
	}
	senders[0].send(`{"type":"message","content":"during"}`)
	senders[0].expect("message") // the echo is local
	senders[0].expectError("Message not delivered: cluster unavailable", "cluster_unavailable")
	j := dialChat(t, A.srv.Addr())
	j.send(`{"type":"join","roomId":"r3","username":"late"}`)
	j.expectError("Join failed: cluster unavailable", "cluster_unavailable")
	j.send(`{"type":"getRoomList"}`)
	j.expectError("Room list unavailable: cluster unavailable", "cluster_unavailable")
	chat.next(t, 5*time.Second, "an error for the chatter", func(m msg) bool { return m.str("code") == "cluster_unavailable" })
	leaver.ws.Close() // leaves during the outage
	// Keep Redis away while a good many messages fail (a second or so).
	waitFor(t, 20*time.Second, "200 failed messages", func() bool { return chat.errs.Load() >= 200 })

	// Redis returns, empty.
	rs.Restart()
	back := time.Now()
	waitFor(t, 10*time.Second, "both nodes healthy", func() bool { return A.broker.Healthy() && B.broker.Healthy() })
	t.Logf("healthy %v after Redis returned", time.Since(back).Round(time.Millisecond))
	mark := seq.Load()
	heard.next(t, 10*time.Second, "traffic after the outage", func(m msg) bool {
		n, _ := strconv.ParseInt(m.str("content"), 10, 64)
		return isMsg(m) && n > mark
	})
	resumed := time.Since(back)
	if resumed > 5*time.Second {
		t.Fatalf("delivery resumed only after %v", resumed)
	}
	// Every publish node A refused was told to its sender, once: the
	// chatter's and senders[0]'s "during" (joins and room lists publish
	// nothing). Node B's members published nothing.
	stopChatter()
	waitFor(t, 5*time.Second, "a refusal told for each publish refused", func() bool {
		return A.broker.Stats().PublishFailed == chat.errs.Load()+1
	})
	refusedA := A.broker.Stats().PublishFailed
	t.Logf("delivery resumed %v after Redis returned; the chatter got %d cluster_unavailable errors", resumed.Round(time.Millisecond), chat.errs.Load())
	if code := readyz(A.srv.Addr()); code != 200 {
		t.Fatalf("/readyz after the outage: %d", code)
	}

	// Every room is subscribed again by both nodes, and the members are
	// registered again (the leaver is not).
	for _, r := range rooms {
		waitFor(t, 5*time.Second, "NUMSUB room:"+r+" = 2", func() bool { return numSub(t, rs, r) == 2 })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc := rs.Client()
	for _, r := range rooms {
		waitFor(t, 5*time.Second, "members of "+r+" registered", func() bool {
			return rc.SCard(ctx, "room_members:"+r).Val() == 2 && rc.Exists(ctx, "room_info:"+r).Val() == 1
		})
	}
	if rc.SIsMember(ctx, "room_members:r1", leaver.userID).Val() {
		t.Fatalf("the member who left during the outage is registered")
	}
	// The leave that could not be announced during the outage is announced
	// now, once the leaver's node has its subscriptions back (a node that is
	// still reconnecting may miss it, like any event of its outage).
	if m := receivers[0].expect("userLeft"); m.str("userId") != leaver.userID {
		t.Fatalf("got %v, want userLeft of the leaver", m)
	}
	// Counts are right for new joins, and every node lists the same rooms.
	if m := j.join("r3", "late"); m.num("memberCount") != 3 {
		t.Fatalf("count after the outage %v", m)
	}
	for _, c := range []*client{senders[2], receivers[2]} {
		if m := c.expect("userJoined"); m.num("memberCount") != 3 {
			t.Fatalf("got %v", m)
		}
	}
	senders[0].send(`{"type":"message","content":"after"}`)
	// Node A hears the leave at most once: it may still have been
	// re-subscribing when B announced it.
	leftOnce := &lateNotice{typ: "userLeft", userID: leaver.userID}
	if m := expectPast(senders[0], "message", leftOnce); m.str("content") != "after" {
		t.Fatalf("got %v", m)
	}
	if m := receivers[0].expect("message"); m.str("content") != "after" {
		t.Fatalf("got %v", m)
	}
	var lists []string
	for _, c := range []*client{senders[2], receivers[2]} {
		rl := roomList(c)
		if len(rl) != 3 {
			t.Fatalf("room list %v", rl)
		}
		lists = append(lists, roomsString(rl))
	}
	if lists[0] != lists[1] {
		t.Fatalf("room lists differ: %v", lists)
	}
	// Each node: one outage, back up, subscribed to r1, r2, r3, the
	// control room and its HTTP stream inbox (server/httpstream); A
	// counted the publishes it refused, B refused none; A answered those
	// and j's join and room list with cluster_unavailable.
	unavailable := `chatd_error_replies_total{code="cluster_unavailable"}`
	for i, want := range []struct{ pubErrors, unavailable float64 }{
		{float64(refusedA), float64(refusedA) + 2}, {0, 0},
	} {
		n := nodes[i]
		if st := n.broker.Stats(); st.Outages != 1 || st.Reconnects != 1 {
			t.Fatalf("node %d: outages %+v", i, st)
		}
		m := scrape(t, n.srv)
		if m["chatd_redis_outages_total"] != 1 || m["chatd_redis_reconnects_total"] != 1 || m["chatd_redis_up"] != 1 ||
			m["chatd_redis_subscribed_rooms"] != float64(len(rooms)+2) ||
			m["chatd_redis_publish_errors_total"] != want.pubErrors || m[unavailable] != want.unavailable {
			t.Fatalf("node %d's redis metrics after the outage: outages %v reconnects %v up %v subscribed %v (want %d), publish errors %v (want %v), cluster_unavailable replies %v (want %v)",
				i, m["chatd_redis_outages_total"], m["chatd_redis_reconnects_total"], m["chatd_redis_up"],
				m["chatd_redis_subscribed_rooms"], len(rooms)+2, m["chatd_redis_publish_errors_total"], want.pubErrors,
				m[unavailable], want.unavailable)
		}
	}
}

// A member who leaves while Redis is down is announced once Redis is back,
// with the room's count after the leave: here Redis returns empty, and the
// one member left, on the same node, is in it (1, not 0).
func TestClusterLeaveDuringOutageCount(t *testing.T) {
	rs := redistest.Start(t)
	n := startClusterNode(t, rs, "A", nil)
	stays := dialChat(t, n.srv.Addr())
	stays.join("r", "stays")
	leaver := dialChat(t, n.srv.Addr())
	leaver.join("r", "leaver")
	stays.expect("userJoined")
	rs.Kill()
	waitFor(t, 10*time.Second, "the node unhealthy", func() bool { return !n.broker.Healthy() })
	leaver.ws.Close()
	rs.Restart()
	if m := expectWithin(stays, "userLeft", 10*time.Second); m.str("userId") != leaver.userID || m.num("memberCount") != 1 {
		t.Fatalf("got %v, want userLeft of the leaver with memberCount 1", m)
	}
}

// A node that cannot reach Redis at start-up: with FailFast it refuses to
// start; without, it starts, reports not ready, refuses cluster requests,
// and works once Redis is reachable.
func TestClusterStartWithoutRedis(t *testing.T) {
	rs := redistest.Start(t)
	rs.Kill()
	b, err := redisbroker.New(redisbroker.Options{URL: rs.URL(), FailFast: true, Logger: testLogger(t, "ff")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.Start(nil); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("fail-fast start: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("fail-fast took %v", d)
	}

	n := startClusterNode(t, rs, "A", nil)
	if n.broker.Healthy() || readyz(n.srv.Addr()) != 503 {
		t.Fatalf("healthy without Redis")
	}
	c := dialChat(t, n.srv.Addr())
	c.send(`{"type":"join","roomId":"x","username":"u"}`)
	c.expectError("Join failed: cluster unavailable", "cluster_unavailable")
	rs.Restart()
	waitFor(t, 10*time.Second, "healthy", n.broker.Healthy)
	if m := c.join("x", "u"); m.num("memberCount") != 1 {
		t.Fatalf("join %v", m)
	}
	if readyz(n.srv.Addr()) != 200 {
		t.Fatalf("not ready")
	}
}

// lateNotice is a notice a test knows may come once, at a moment not
// ordered with what it waits for (e.g. a presence event published
// asynchronously): of type typ, about userID ("" for anyone).
type lateNotice struct {
	typ, userID string
	seen        bool
}

// expectPast reads the next message, which must be of type typ; one message
// matching late is let through first, once per lateNotice (shared across
// calls): a second one fails the test.
func expectPast(c *client, typ string, late *lateNotice) msg {
	c.t.Helper()
	m := c.read()
	if !late.seen && m.str("type") == late.typ && (late.userID == "" || m.str("userId") == late.userID) {
		late.seen = true
		m = c.read()
	}
	if m.str("type") != typ {
		c.t.Fatalf("got %v, want type %q", m, typ)
	}
	return m
}

// A node shut down gracefully tells the cluster its members left at once
// (no waiting for its heartbeat to expire) and withdraws its heartbeat.
func TestClusterGracefulShutdown(t *testing.T) {
	rs := redistest.Start(t)
	slowReaper := func(o *redisbroker.Options) {
		o.HeartbeatInterval, o.HeartbeatTTL = time.Minute, 2*time.Minute // the reaper cannot be what cleans up
	}
	A := startClusterNode(t, rs, "A", slowReaper)
	// B is shut down by the test, not by a cleanup (a second Shutdown
	// would wait for its deadline).
	o := redisbroker.Options{URL: rs.URL(), NodeID: "B", Logger: testLogger(t, "B")}
	fastCluster(&o)
	slowReaper(&o)
	bb, err := redisbroker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := server.New(server.Config{Addr: "127.0.0.1:0", Loops: 2, Broker: bb, NodeID: "B", Logger: o.Logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Start(); err != nil {
		t.Fatal(err)
	}
	B := &clusterNode{srv: bs, broker: bb}
	shut := false
	t.Cleanup(func() {
		if !shut {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = bs.Shutdown(ctx)
		}
	})
	a := dialChat(t, A.srv.Addr())
	a.join("g", "a")
	b := dialChat(t, B.srv.Addr())
	b.join("g", "b")
	a.expect("userJoined")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	startPump(t, b) // reading, so it answers the close handshake
	shut = true
	if err := B.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if m := expectWithin(a, "userLeft", 5*time.Second); m.str("userId") != b.userID || m.num("memberCount") != 1 {
		t.Fatalf("got %v", m)
	}
	rc := rs.Client()
	if n := rc.Exists(ctx, "chatd:node:B:alive", "chatd:node:B:members").Val(); n != 0 {
		t.Fatalf("node B's heartbeat or member list remains (%d keys)", n)
	}
	if rc.SIsMember(ctx, "chatd:nodes", "B").Val() {
		t.Fatalf("node B still listed")
	}
}
