package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/internal/redistest"
)

// fillRedis writes filler keys (no TTL) of mb MiB in all and sets maxmemory
// below what Redis then uses, under policy: every write that may grow
// memory is refused (noeviction), or makes Redis evict keys with a TTL
// (volatile-*).
func fillRedis(t *testing.T, rs *redistest.Server, policy string, mb int) {
	t.Helper()
	ctx := context.Background()
	c := rs.Client()
	pad := strings.Repeat("f", 1<<10)
	for i := 0; i < mb; i++ {
		pipe := c.Pipeline()
		for j := 0; j < 1024; j++ {
			pipe.Set(ctx, fmt.Sprintf("filler:%d:%d", i, j), pad, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	used := usedMemory(t, rs)
	for k, v := range map[string]string{"maxmemory-policy": policy, "maxmemory": strconv.FormatInt(used-(256<<10), 10)} {
		if err := c.ConfigSet(ctx, k, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { c.ConfigSet(context.Background(), "maxmemory", "0") })
}

func usedMemory(t *testing.T, rs *redistest.Server) int64 {
	t.Helper()
	return infoInt(t, rs, "memory", "used_memory")
}

func infoInt(t *testing.T, rs *redistest.Server, section, field string) int64 {
	t.Helper()
	for _, line := range strings.Split(rs.Client().Info(context.Background(), section).Val(), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in INFO %s", field, section)
	return 0
}

func publishErr(b broker.Broker, ev *broker.Event) (uint64, error) {
	type res struct {
		off uint64
		err error
	}
	ch := make(chan res, 1)
	b.Publish(ev, func(off uint64, err error) { ch <- res{off, err} })
	select {
	case r := <-ch:
		return r.off, r.err
	case <-time.After(10 * time.Second):
		return 0, errors.New("publish: no answer")
	}
}

// Redis at maxmemory under noeviction: a stored message is refused with
// broker.ErrStorageFull (counted) and nothing of it is stored or
// delivered; a join and the naming of a new room's epoch are refused the
// same way; events that are not stored still go out; the heartbeat keeps
// beating (the node stays healthy and is not reaped by the other); once
// Redis has room again the numbering goes on without a hole.
func TestRedisFullNoEviction(t *testing.T) {
	rs := redistest.Start(t)
	needRealRedis(t, rs)
	a, ra := startNode(t, rs, "a", nil, "r", "new")
	b, _ := startNode(t, rs, "b", nil, "r")
	join := func(node broker.Broker, user string) error {
		ch := make(chan error, 1)
		node.Join(broker.Member{Room: "r", User: user, Name: user}, "R", func(_ broker.Membership, err error) { ch <- err })
		return <-ch
	}
	if err := join(a, "u1"); err != nil {
		t.Fatal(err)
	}
	if off := storeNow(t, a, "r", `{"n":1}`); off != 1 {
		t.Fatal(off)
	}
	ra.Wait(t, "r", 1)
	fillRedis(t, rs, "noeviction", 4)

	if _, err := publishErr(a, &broker.Event{Room: "r", Body: []byte(`{"n":2}`), Store: true}); !errors.Is(err, broker.ErrStorageFull) {
		t.Fatalf("store at maxmemory: %v, want ErrStorageFull", err)
	}
	if n := a.Stats().StorageFull; n != 1 {
		t.Fatalf("StorageFull %d, want 1", n)
	}
	if _, err := publishErr(a, &broker.Event{Room: "r", Body: []byte(`{"typing":1}`)}); err != nil {
		t.Fatalf("a plain event at maxmemory: %v", err)
	}
	// The typing event arrives, the refused message never did.
	if got := ra.Wait(t, "r", 2); got[1].Body != `{"typing":1}` {
		t.Fatalf("delivered %+v", got)
	}
	if err := join(b, "u2"); !errors.Is(err, broker.ErrStorageFull) {
		t.Fatalf("join at maxmemory: %v, want ErrStorageFull", err)
	}
	ch := make(chan error, 1)
	a.Sync("new", broker.HistoryQuery{}, func(_ broker.HistoryResult, err error) { ch <- err })
	if err := <-ch; !errors.Is(err, broker.ErrStorageFull) {
		t.Fatalf("naming a new room's epoch at maxmemory: %v, want ErrStorageFull", err)
	}
	// The heartbeat beats on (its deadline moves) and nobody is reaped.
	ctx := context.Background()
	beat := rs.Client().Get(ctx, "chatd:node:a:alive").Val()
	deadline := time.Now().Add(5 * time.Second)
	for v := beat; v == beat || v == ""; v = rs.Client().Get(ctx, "chatd:node:a:alive").Val() {
		if time.Now().After(deadline) {
			t.Fatal("the heartbeat stopped at maxmemory")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ttl := rs.Client().PTTL(ctx, "chatd:node:a:alive").Val(); ttl != -1 {
		t.Fatalf("heartbeat TTL %v, want none", ttl)
	}
	if !a.Healthy() || b.Stats().Reaped != 0 {
		t.Fatalf("at maxmemory: healthy %v, reaped by b %d", a.Healthy(), b.Stats().Reaped)
	}
	if err := rs.Client().ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if off := storeNow(t, a, "r", `{"n":3}`); off != 2 {
		t.Fatalf("first message after the refusal got offset %d, want 2", off)
	}
	if got := ra.Wait(t, "r", 3); got[2].Body != `{"n":3}` || got[2].Pos.Offset != 2 {
		t.Fatalf("delivered %+v", got[2])
	}
}

// Redis at maxmemory under volatile-lru or volatile-ttl: Redis evicts keys
// with a TTL, which are the histories only (heartbeats, room state and
// memberships carry none; a heartbeat with a TTL would be the first to go
// under volatile-ttl): stores go on in new rooms, old histories go, and a
// recovery from an evicted history says recovered: false.
func TestRedisFullVolatile(t *testing.T) {
	for _, policy := range []string{"volatile-lru", "volatile-ttl"} {
		t.Run(policy, func(t *testing.T) { checkVolatile(t, policy) })
	}
}

func checkVolatile(t *testing.T, policy string) {
	rs := redistest.Start(t)
	needRealRedis(t, rs)
	a, _ := startNode(t, rs, "a", nil, "old")
	join := func(room string) {
		ch := make(chan error, 1)
		a.Join(broker.Member{Room: room, User: "u", Name: "U"}, room, func(_ broker.Membership, err error) { ch <- err })
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	join("old")
	storeNow(t, a, "old", `{"n":1}`)
	old := syncNow(t, a, "old", broker.HistoryQuery{}).Epoch
	fillRedis(t, rs, policy, 2)
	pad := strings.Repeat("h", 4000)
	for i := 0; infoInt(t, rs, "stats", "evicted_keys") == 0; i++ {
		if i == 2000 {
			t.Fatal("nothing evicted")
		}
		if _, err := publishErr(a, &broker.Event{Room: fmt.Sprint("room", i), Body: []byte(`{"p":"` + pad + `"}`),
			Store: true}); err != nil {
			t.Fatalf("store %d under %s: %v", i, policy, err)
		}
	}
	ctx := context.Background()
	c := rs.Client()
	for _, k := range []string{"chatd:node:a:alive", "room_members:old", "room_info:old", "chatd:node:a:members"} {
		if c.Exists(ctx, k).Val() != 1 {
			t.Fatalf("%s was evicted", k)
		}
	}
	if c.Exists(ctx, "chatd:{old}:log").Val() != 0 {
		// (The oldest history is the least recently used: it goes first.)
		t.Fatal("the oldest history was not evicted")
	}
	h := syncNow(t, a, "old", broker.HistoryQuery{Since: &broker.Position{Epoch: old, Offset: 0}})
	if h.Recovered {
		t.Fatalf("recovered from an evicted history: %+v", h)
	}
}
