package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/chatd/chatd/server"
	redisbroker "github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
)

// Redis at maxmemory under noeviction: what clients see (README, Redis
// memory). A v2 publish answers storage_full ("Message not delivered:
// cluster storage full"), a v1 message gets the same text as an error, a
// join of a new room answers storage_full, the server API's publish 507;
// nothing of them was stored or delivered (the next message, once Redis
// has room, gets offset 1 and is the first the members see), and the
// refusals are counted (chatd_redis_storage_full_total).
func TestRedisFullClientErrors(t *testing.T) {
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server")
	}
	o := redisbroker.Options{URL: rs.URL()}
	fastCluster(&o)
	o.NodeID, o.Logger = "A", testLogger(t, "A")
	b, err := redisbroker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *server.Config) {
		c.Broker, c.NodeID, c.RateLimit, c.Logger = b, "A", -1, o.Logger
		withAPIKey(c)
	})
	v1 := dialChat(t, s.Addr())
	v1.join("r", "bob")
	v2 := connectV2(t, s.Addr(), "alice")
	v2.join("r")
	if m := v1.expect("userJoined"); m.str("username") != "alice" {
		t.Fatalf("v1 got %v", m)
	}
	fillRedisFull(t, rs)

	e := v2.callError(map[string]any{"type": "publish", "roomId": "r", "content": "lost?"}, "storage_full")
	if e.str("message") != "Message not delivered: cluster storage full" {
		t.Fatalf("v2 publish: %v", e)
	}
	v1.send(map[string]string{"type": "message", "content": "lost too?"})
	v1.expect("message") // (v1's own echo is local, as the reference app's; then the error)
	v1.expectError("Message not delivered: cluster storage full", "storage_full")
	e = v2.callError(map[string]any{"type": "join", "roomId": "new"}, "storage_full")
	if e.str("message") != "Join failed: cluster storage full" {
		t.Fatalf("v2 join: %v", e)
	}
	api := startAPI(t, s)
	api.expectError("POST", "/api/publish", `{"roomId":"r","content":"system"}`, http.StatusInsufficientStorage,
		"storage_full")
	if n := scrape(t, s)["chatd_redis_storage_full_total"]; n < 3 {
		t.Fatalf("chatd_redis_storage_full_total %v, want at least 3", n)
	}

	if err := rs.Client().ConfigSet(context.Background(), "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if ok := v2.publish("r", "stored"); ok.num("offset") != 1 {
		t.Fatalf("first message after the refusals: %v, want offset 1", ok)
	}
	if m := v1.expect("message"); m.str("content") != "stored" {
		t.Fatalf("v1 member got %v first", m)
	}
}

// fillRedisFull writes 4 MiB of filler keys and sets maxmemory under what
// Redis then uses, with noeviction.
func fillRedisFull(t *testing.T, rs *redistest.Server) {
	t.Helper()
	ctx := context.Background()
	c := rs.Client()
	pad := strings.Repeat("f", 1<<10)
	for i := 0; i < 4; i++ {
		pipe := c.Pipeline()
		for j := 0; j < 1024; j++ {
			pipe.Set(ctx, fmt.Sprintf("filler:%d:%d", i, j), pad, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var used int64
	for _, line := range strings.Split(c.Info(ctx, "memory").Val(), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			used, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if used == 0 {
		t.Fatal("no used_memory")
	}
	if err := c.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used-(256<<10), 10)).Err(); err != nil {
		t.Fatal(err)
	}
}
