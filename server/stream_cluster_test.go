package server_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/golang-jwt/jwt/v5"
)

// The v2 scenarios over HTTP streaming, on two nodes sharing a real Redis,
// with every client's POSTs sent to the node that does not hold its
// session: each reaches the session through the relay (docs/protocol-v2.md,
// "Over HTTP").

// startStreamNode starts a node named name on rs; mod adjusts its config.
func startStreamNode(t *testing.T, rs *redistest.Server, name string, mod func(*server.Config)) *server.Server {
	t.Helper()
	log := testLogger(t, name)
	o := redisbroker.Options{URL: rs.URL(), NodeID: name, Logger: log}
	fastCluster(&o)
	b, err := redisbroker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, func(c *server.Config) {
		c.Broker, c.NodeID, c.Logger = b, name, log
		c.RateLimit = -1
		if mod != nil {
			mod(c)
		}
	})
}

// Several rooms per session, pushes, presence and typing, between stream
// clients on both nodes and a WebSocket client, with every POST relayed.
func TestStreamClusterChat(t *testing.T) {
	rs := redistest.Start(t)
	a := startStreamNode(t, rs, "A", nil)
	b := startStreamNode(t, rs, "B", nil)
	alice := openStream(t, a.Addr(), b.Addr()) // on A, POSTs to B
	bob := openStream(t, b.Addr(), a.Addr())   // on B, POSTs to A
	carol := connectV2(t, a.Addr(), "carol")   // a WebSocket on A
	alice.hello("alice")
	bob.hello("bob")
	if m := alice.join("r1"); m.num("memberCount") != 1 {
		t.Fatalf("join %v", m)
	}
	alice.join("r2")
	if m := bob.join("r1"); m.num("memberCount") != 2 {
		t.Fatalf("join %v", m)
	}
	if m := alice.expect("joined"); m.str("userId") != bob.userID || m.str("roomId") != "r1" {
		t.Fatalf("joined %v", m)
	}
	carol.join("r2")
	if m := alice.expect("joined"); m.str("userId") != carol.userID || m.str("roomId") != "r2" {
		t.Fatalf("joined %v", m)
	}

	// Messages reach each room's members only, across nodes and carriers.
	ok := alice.publish("r1", "to r1")
	m := bob.expect("message")
	if m.str("content") != "to r1" || m.str("userId") != alice.userID || m.num("offset") != ok.num("offset") ||
		m.str("roomId") != "r1" || m.str("epoch") == "" {
		t.Fatalf("push %v after ok %v", m, ok)
	}
	alice.publish("r2", "to r2")
	if m := carol.expect("message"); m.str("content") != "to r2" || m.str("name") != "alice" {
		t.Fatalf("carol got %v", m)
	}
	carol.publish("r2", "from a websocket")
	if m := alice.expect("message"); m.str("content") != "from a websocket" || m.str("roomId") != "r2" {
		t.Fatalf("alice got %v", m)
	}
	bob.publish("r1", "back")
	if m := alice.expect("message"); m.str("content") != "back" || m.str("userId") != bob.userID {
		t.Fatalf("alice got %v", m)
	}

	// Presence is cluster-wide; typing goes to the others.
	pres := bob.call(map[string]any{"type": "presence", "roomId": "r1"})
	names := map[string]string{}
	for _, e := range pres["members"].([]any) {
		e := msg(e.(map[string]any))
		names[e.str("userId")] = e.str("name")
	}
	if len(names) != 2 || names[alice.userID] != "alice" || names[bob.userID] != "bob" {
		t.Fatalf("presence %v", pres)
	}
	alice.send(map[string]any{"type": "typing", "roomId": "r1"})
	if m := bob.expect("typing"); m.str("userId") != alice.userID || m.str("roomId") != "r1" {
		t.Fatalf("typing %v", m)
	}
	bob.sync()
	alice.sync() // nothing else for alice: her own typing is not echoed

	// Leaving one room keeps the other.
	alice.call(map[string]any{"type": "leave", "roomId": "r1"})
	if m := bob.expect("left"); m.str("userId") != alice.userID || m.num("memberCount") != 1 {
		t.Fatalf("left %v", m)
	}
	carol.publish("r2", "still here")
	if m := alice.expect("message"); m.str("content") != "still here" {
		t.Fatalf("alice got %v", m)
	}

	// Every POST crossed the cluster: relayed out by the node that got it,
	// in by the node that holds the session.
	ma, mb := scrape(t, a), scrape(t, b)
	outA, inA := ma[`chatd_stream_relays_total{direction="out"}`], ma[`chatd_stream_relays_total{direction="in"}`]
	outB, inB := mb[`chatd_stream_relays_total{direction="out"}`], mb[`chatd_stream_relays_total{direction="in"}`]
	if outA != inB || outB != inA || outA != float64(bob.seq) || outB != float64(alice.seq) {
		t.Fatalf("relays: A out %v in %v, B out %v in %v; POSTs alice %d bob %d", outA, inA, outB, inB, alice.seq, bob.seq)
	}
	if ma[`chatd_stream_posts_total{result="applied"}`] != float64(alice.seq) ||
		ma["chatd_stream_connections"] != 1 || ma["chatd_stream_sessions"] != 1 || ma["chatd_websocket_connections"] != 1 {
		t.Fatalf("metrics of A: %v", ma)
	}
}

// A client that lost its stream opens a new one (on the other node) and
// recovers what it missed with since; live messages follow with no hole.
func TestStreamClusterRecovery(t *testing.T) {
	rs := redistest.Start(t)
	a := startStreamNode(t, rs, "A", func(c *server.Config) { c.StreamResume = -1 })
	b := startStreamNode(t, rs, "B", nil)
	alice := openStream(t, b.Addr(), a.Addr())
	alice.hello("alice")
	alice.join("demo")
	bob := openStream(t, a.Addr(), b.Addr())
	bob.hello("bob")
	bob.join("demo")
	alice.expect("joined")
	var epoch string
	for _, s := range []string{"one", "two", "three"} {
		alice.publish("demo", s)
		epoch = bob.expect("message").str("epoch")
	}
	_ = bob.conn.Close() // the stream is lost (no resume on A): bob's session ends
	if m := alice.expect("left"); m.str("userId") != bob.userID {
		t.Fatalf("left %v", m)
	}
	alice.publish("demo", "four")
	alice.publish("demo", "five")

	bob2 := openStream(t, b.Addr(), a.Addr())
	bob2.hello("bob")
	rec := bob2.call(map[string]any{"type": "join", "roomId": "demo", "since": map[string]any{"epoch": epoch, "offset": 3},
		"history": 10})
	msgs, _ := rec["messages"].([]any)
	if rec["recovered"] != true || len(msgs) != 2 || msg(msgs[0].(map[string]any)).str("content") != "four" ||
		msg(msgs[1].(map[string]any)).num("offset") != 5 || rec.num("offset") != 5 {
		t.Fatalf("recovery %v", rec)
	}
	alice.expect("joined")
	alice.publish("demo", "six")
	if m := bob2.expect("message"); m.num("offset") != 6 || m.str("content") != "six" {
		t.Fatalf("live after recovery %v", m)
	}
}

// A token names the user of a stream session (given in hello, through the
// relay); refresh keeps the session past the first token's exp, while a
// session that does not refresh is closed (4001) with a close event.
func TestStreamClusterTokenRefresh(t *testing.T) {
	rs := redistest.Start(t)
	mod := withAuth(server.AuthRequired, func(c *server.Config) {
		c.AuthKeys.Leeway = -1
		c.TokenSweep = 20 * time.Millisecond
	})
	a := startStreamNode(t, rs, "A", mod)
	b := startStreamNode(t, rs, "B", mod)
	exp := time.Now().Add(1500*time.Millisecond).Unix() + 1
	short := func(sub string) string { return mint(t, sub, 0, jwt.MapClaims{"exp": exp, "name": sub + "!"}) }

	refreshed := openStream(t, a.Addr(), b.Addr())
	ok := refreshed.call(map[string]any{"type": "hello", "token": short("alice")})
	if ok.str("userId") != "alice" || ok.str("name") != "alice!" {
		t.Fatalf("hello %v", ok)
	}
	refreshed.join("room")
	refreshed.callError(map[string]any{"type": "refresh", "token": mint(t, "mallory", time.Hour, nil)}, "forbidden")
	refreshed.call(map[string]any{"type": "refresh", "token": mint(t, "alice", time.Hour, nil)})
	expiring := openStream(t, b.Addr(), a.Addr())
	expiring.call(map[string]any{"type": "hello", "token": short("carol")})
	expiring.join("room")
	refreshed.expect("joined")
	// A missing token under -auth required: unauthorized, then closed 1008.
	anon := openStream(t, a.Addr(), b.Addr())
	anon.callError(map[string]any{"type": "hello", "name": "x"}, "unauthorized")
	anon.expectClose(1008, 5*time.Second)

	expiring.expectClose(4001, 5*time.Second)
	if time.Now().Unix() < exp {
		t.Fatal("closed before exp")
	}
	if m := refreshed.expect("left"); m.str("userId") != "carol" {
		t.Fatalf("left %v", m)
	}
	refreshed.call(map[string]any{"type": "presence", "roomId": "room"})
	if got := scrape(t, b)["chatd_token_expiry_closes_total"]; got != 1 {
		t.Fatalf("expiry closes on B %v", got)
	}
}

// A POST retried, through either node, is applied once: the message is
// published once, and its reply comes once.
func TestStreamPostRetriedAppliesOnce(t *testing.T) {
	rs := redistest.Start(t)
	a := startStreamNode(t, rs, "A", nil)
	b := startStreamNode(t, rs, "B", nil)
	pub := openStream(t, a.Addr(), b.Addr())
	pub.hello("pub")
	pub.join("once")
	sub := connectV2(t, b.Addr(), "sub")
	sub.join("once")
	pub.expect("joined")
	body := pub.postBody(pub.seq+1, map[string]any{"type": "publish", "id": 99, "roomId": "once", "content": "hi"})
	for i, addr := range []string{b.Addr(), a.Addr(), b.Addr()} {
		status, m := postTo(t, addr, body)
		if status != 200 || uint64(m.num("seq")) != pub.seq+1 || (m["duplicate"] == true) != (i > 0) {
			t.Fatalf("try %d to %s: %d %v", i, addr, status, m)
		}
	}
	pub.seq++
	if m := pub.read(); m.str("type") != "ok" || m.num("id") != 99 || m.num("offset") != 1 {
		t.Fatalf("reply %v", m)
	}
	if m := sub.expect("message"); m.num("offset") != 1 {
		t.Fatalf("push %v", m)
	}
	pub.sync() // no second reply before this one's
	sub.sync() // no second push
	h := sub.call(map[string]any{"type": "history", "roomId": "once"})
	if n := len(h["messages"].([]any)); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
	// A POST ahead of the next seq is refused with the one expected.
	status, m := postTo(t, b.Addr(), pub.postBody(pub.seq+2))
	if e := m["error"].(map[string]any); status != 409 || errCode(m) != "seq_gap" || int(e["expected"].(float64)) != int(pub.seq+1) {
		t.Fatalf("gap: %d %v", status, m)
	}
	if got := scrape(t, a)[`chatd_stream_posts_total{result="duplicate"}`]; got != 2 {
		t.Fatalf("duplicates counted on A %v", got)
	}
}

// A POST for a session that is gone gets 410 session_gone (from its node,
// through the relay); one for a node that does not answer gets 503
// session_unreachable after the relay timeout.
func TestStreamPostGoneSession(t *testing.T) {
	rs := redistest.Start(t)
	fast := func(c *server.Config) { c.BrokerTimeout = 300 * time.Millisecond }
	a := startStreamNode(t, rs, "A", fast)
	b := startStreamNode(t, rs, "B", fast)
	c := openStream(t, a.Addr(), b.Addr())
	c.hello("leaver")
	c.send(map[string]any{"type": "leave", "roomId": "x"})
	_ = c.read() // its error
	closeBody := []byte(`{"session":"` + c.sid + `","seq":` + strconv.FormatUint(c.seq+1, 10) + `,"requests":[],"close":true}`)
	if status, m := postTo(t, b.Addr(), closeBody); status != 200 {
		t.Fatalf("close: %d %v", status, m)
	}
	c.expectClose(1000, 5*time.Second)
	for _, addr := range []string{b.Addr(), a.Addr()} {
		status, m := postTo(t, addr, c.postBody(c.seq+2, map[string]any{"type": "hello", "name": "x"}))
		if status != 410 || errCode(m) != "session_gone" {
			t.Fatalf("POST to %s for a closed session: %d %v", addr, status, m)
		}
	}
	// A session id of a node that does not exist.
	ghost := *c
	ghost.sid = "Wg." + c.sid[len(c.sid)-22:] // node "Z"
	start := time.Now()
	status, m := postTo(t, b.Addr(), ghost.postBody(1))
	if status != 503 || errCode(m) != "session_unreachable" {
		t.Fatalf("POST for node Z: %d %v", status, m)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("answered after %v, before the relay timeout", d)
	}
	// Not a session id at all.
	for _, sid := range []string{"nope", "QQ.short", "!!." + c.sid[len(c.sid)-22:]} {
		ghost.sid = sid
		if status, m := postTo(t, b.Addr(), ghost.postBody(1)); status != 410 || errCode(m) != "session_gone" {
			t.Fatalf("sid %q: %d %v", sid, status, m)
		}
	}
}

// On a Redis Cluster the inboxes are sharded channels like rooms: POSTs
// relay between nodes the same way.
func TestStreamShardedCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	a := startShardNode(t, rc, "A", nil)
	b := startShardNode(t, rc, "B", nil)
	alice := openStream(t, a.srv.Addr(), b.srv.Addr())
	alice.hello("alice")
	bob := openStream(t, b.srv.Addr(), a.srv.Addr())
	bob.hello("bob")
	rooms, owners := roomsOnMasters(t, rc, "s")
	t.Logf("rooms %v on masters %v; inboxes on masters %d and %d", rooms, owners,
		rc.MasterOf(rc.Slot("room:{\x00chatd-stream:A}")), rc.MasterOf(rc.Slot("room:{\x00chatd-stream:B}")))
	for _, room := range rooms {
		alice.join(room)
		bob.join(room)
		alice.expect("joined")
		ok := alice.publish(room, "hi "+room)
		if m := bob.expect("message"); m.str("content") != "hi "+room || m.num("offset") != ok.num("offset") {
			t.Fatalf("%s: %v", room, m)
		}
	}
	ma := scrape(t, a.srv)
	if ma[`chatd_stream_relays_total{direction="in"}`] != float64(alice.seq) ||
		ma[`chatd_stream_relays_total{direction="out"}`] != float64(bob.seq) {
		t.Fatalf("relays on A: %v", ma)
	}
}
