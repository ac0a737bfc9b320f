package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/gorilla/websocket"
)

// clusterNode is an in-process chat node on a Redis broker.
type clusterNode struct {
	srv    *server.Server
	broker *redisbroker.Broker
}

// fastCluster makes a broker's timers test-sized.
func fastCluster(o *redisbroker.Options) {
	o.HeartbeatInterval = 500 * time.Millisecond
	o.HeartbeatTTL = 2 * time.Second
	o.SubscribeLinger = time.Second
	o.MaxBackoff = 500 * time.Millisecond
	o.RoomScanInterval = time.Millisecond
}

// startClusterNode starts a node on rs. mod adjusts the broker's options
// (after fastCluster).
func startClusterNode(t *testing.T, rs *redistest.Server, name string, mod func(*redisbroker.Options)) *clusterNode {
	t.Helper()
	return startRedisNode(t, redisbroker.Options{URL: rs.URL()}, name, mod)
}

// startRedisNode starts a node named name on a Redis broker with options o
// (its Redis or Redis Cluster address set), tuned by fastCluster, then mod.
func startRedisNode(t *testing.T, o redisbroker.Options, name string, mod func(*redisbroker.Options)) *clusterNode {
	t.Helper()
	log := testLogger(t, name)
	o.NodeID, o.Logger = name, log
	fastCluster(&o)
	if mod != nil {
		mod(&o)
	}
	b, err := redisbroker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *server.Config) {
		c.Broker = b
		c.NodeID = name
		c.RateLimit = -1
		freshRoomLists(c) // cluster tests check the list right after changes
		c.Logger = log
	})
	return &clusterNode{srv: s, broker: b}
}

// startCluster starts n nodes named A, B, C, ...
func startCluster(t *testing.T, rs *redistest.Server, n int, mod func(*redisbroker.Options)) []*clusterNode {
	t.Helper()
	nodes := make([]*clusterNode, n)
	for i := range nodes {
		nodes[i] = startClusterNode(t, rs, string(rune('A'+i)), mod)
	}
	return nodes
}

// testLogger logs to t until the test ends.
func testLogger(t *testing.T, name string) *slog.Logger {
	w := &testLogWriter{t: t, prefix: name + ": "}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testLogWriter struct {
	mu     sync.Mutex
	t      *testing.T
	prefix string
	done   bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) stop() { w.mu.Lock(); w.done = true; w.mu.Unlock() }

var _ io.Writer = (*testLogWriter)(nil)

// dialChat connects a chat client to addr and reads its greeting.
func dialChat(t *testing.T, addr string) *client {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &client{t: t, ws: ws}
	c.userID = c.expect("connected").str("userId")
	return c
}

// readRaw returns the next message's bytes, failing after d.
func readRaw(c *client, d time.Duration) []byte {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	_, p, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// readWithin returns the next message, failing after d.
func readWithin(c *client, d time.Duration) msg {
	c.t.Helper()
	p := readRaw(c, d)
	var m msg
	if err := json.Unmarshal(p, &m); err != nil {
		c.t.Fatalf("bad JSON %q: %v", p, err)
	}
	return m
}

// expectWithin reads the next message and checks its type, failing after d.
func expectWithin(c *client, typ string, d time.Duration) msg {
	c.t.Helper()
	m := readWithin(c, d)
	if m.str("type") != typ {
		c.t.Fatalf("got %v, want type %q", m, typ)
	}
	return m
}

// sendChat sends a chat message and reads its echo.
func sendChat(c *client, content string) {
	c.t.Helper()
	c.send(map[string]string{"type": "message", "content": content})
	if m := c.expect("message"); m.str("content") != content {
		c.t.Fatalf("echo %v, want %q", m, content)
	}
}

// roomList asks for the room list.
func roomList(c *client) []msg {
	c.t.Helper()
	c.send(`{"type":"getRoomList"}`)
	m := c.expect("roomList")
	var out []msg
	for _, r := range m["rooms"].([]any) {
		out = append(out, msg(r.(map[string]any)))
	}
	return out
}

// roomsString renders a room list for comparisons.
func roomsString(rooms []msg) string {
	var sb strings.Builder
	for _, r := range rooms {
		fmt.Fprintf(&sb, "%s/%s/%d/%s;", r.str("roomId"), r.str("name"), r.num("memberCount"), r.str("createdAt"))
	}
	return sb.String()
}

// waitFor polls cond until it holds, failing after d. For states that no
// event announces (Redis keys, counters).
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// numSub returns PUBSUB NUMSUB of a room's channel.
func numSub(t *testing.T, rs *redistest.Server, room string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := rs.Client().PubSubNumSub(ctx, "room:"+room).Result()
	if err != nil {
		t.Fatalf("NUMSUB: %v", err)
	}
	return m["room:"+room]
}

// noticesOut follows room's channel in Redis (as a reference node would).
// Its wait returns once a userJoined of userID has been published there.
// A node that subscribes to the room after that never gets the notice:
// joining only then keeps a stale userJoined (one published before the
// join, still on its way) from reaching the new member, which a node
// does not rule out (docs/protocol-v1.md §5).
func noticesOut(t *testing.T, rs *redistest.Server, room string) (wait func(userID string)) {
	t.Helper()
	ctx := context.Background()
	ps := rs.Client().Subscribe(ctx, "room:"+room)
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(ctx); err != nil { // the subscribe confirmation
		t.Fatal(err)
	}
	return func(userID string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for {
			pm, err := ps.ReceiveMessage(ctx)
			if err != nil {
				t.Fatalf("room %s: no userJoined of %s published: %v", room, userID, err)
			}
			var ev struct{ Type, UserID string }
			if json.Unmarshal([]byte(pm.Payload), &ev) == nil && ev.Type == "userJoined" && ev.UserID == userID {
				return
			}
		}
	}
}
