package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
	goredis "github.com/redis/go-redis/v9"
)

// joinNow joins m and fails the test if the broker refuses.
func joinNow(t *testing.T, b broker.Broker, m broker.Member) {
	t.Helper()
	done := make(chan error, 1)
	b.Join(m, m.Room, func(_ broker.Membership, err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("join %+v: %v", m, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("join %+v: no answer", m)
	}
}

// waitStats polls the broker's counters until cond holds.
func waitStats(t *testing.T, b *redis.Broker, what string, cond func(redis.Stats) bool) redis.Stats {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := b.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s; stats %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// After an outage in which Redis kept its data (here Redis stalls past the
// request timeout, as under overload), the node re-registers its members by
// reading what Redis lists for it: only a member Redis lost is written
// again, not all of them (a script per member, on every node that saw a
// timeout, kept an overloaded Redis overloaded).
func TestReregisterWritesOnlyWhatRedisLost(t *testing.T) {
	rs := redistest.Start(t)
	needRealRedis(t, rs) // CLIENT PAUSE
	a, _ := startNode(t, rs, "a", func(o *redis.Options) {
		o.OpTimeout = 300 * time.Millisecond
		o.HeartbeatTTL = 20 * time.Second // no reap: the node is only late
	})
	const members = 300
	for i := 0; i < members; i++ {
		joinNow(t, a, broker.Member{Room: fmt.Sprint("r", i%3), User: fmt.Sprint("u", i), Name: fmt.Sprint("name", i)})
	}
	base := waitStats(t, a, "the start-up registration", func(st redis.Stats) bool { return st.Reconciles >= 1 })

	// One member is lost behind the node's back (as a failover to a replica
	// that lagged would lose it).
	ctx := context.Background()
	c := rs.Client()
	if c.HDel(ctx, "chatd:node:a:members", "r1\nu1").Val() != 1 || c.SRem(ctx, "room_members:r1", "u1").Val() != 1 ||
		c.HDel(ctx, "chatd:room_users:r1", "u1").Val() != 1 {
		t.Fatal("u1 was not registered in r1 as the test expects")
	}
	if err := c.Do(ctx, "client", "pause", 1500, "all").Err(); err != nil {
		t.Fatal(err)
	}
	st := waitStats(t, a, "an outage and the re-registration after it", func(st redis.Stats) bool {
		return st.Outages > base.Outages && st.Reconciles > base.Reconciles
	})
	if got := st.Reregistered - base.Reregistered; got != 1 {
		t.Fatalf("the re-registration wrote %d members again, want 1 (the lost one) of %d", got, members)
	}
	if !c.SIsMember(ctx, "room_members:r1", "u1").Val() || c.HGet(ctx, "chatd:node:a:members", "r1\nu1").Val() != "name1" ||
		c.HGet(ctx, "chatd:room_users:r1", "u1").Val() != "1" {
		t.Fatal("the lost member is not registered again")
	}
	if n := c.SCard(ctx, "room_members:r0").Val(); n != members/3 {
		t.Fatalf("r0 has %d members, want %d", n, members/3)
	}
}

// lapsedNode writes, as another node would have, a node whose heartbeat has
// lapsed and that has member u in room r.
func lapsedNode(t *testing.T, rs *redistest.Server, node string) {
	t.Helper()
	ctx := context.Background()
	c := rs.Client()
	p := c.TxPipeline()
	p.SAdd(ctx, "chatd:nodes", node)
	p.Set(ctx, "chatd:node:"+node+":alive", "d0", 0) // lapsed at 0 ms of the Redis clock
	p.HSet(ctx, "chatd:node:"+node+":members", "r\nu", "name")
	p.HSet(ctx, "room_info:r", "id", "r", "name", "r", "createdAt", "2026-12-07T00:00:00.000Z")
	p.SAdd(ctx, "room_members:r", "u")
	p.HSet(ctx, "chatd:room_users:r", "u", 1)
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// busyNodeConn opens a connection named as node's would be and sends a
// command on it every 100 ms (bounded: 60 s) until stop, which returns once
// the last command is done; the connection stays open until the test ends.
func busyNodeConn(t *testing.T, rs *redistest.Server, node string) (*goredis.Client, func()) {
	t.Helper()
	bc := goredis.NewClient(&goredis.Options{Addr: rs.Addr(), ClientName: "chatd:" + node, MaxRetries: -1, PoolSize: 1})
	t.Cleanup(func() { _ = bc.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	pinged := make(chan struct{})
	go func() {
		defer close(pinged)
		for i := 0; i < 600 && ctx.Err() == nil; i++ {
			_ = bc.Ping(ctx).Err()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return bc, func() { cancel(); <-pinged }
}

// A node whose heartbeat lapsed but whose connection to Redis still sends
// commands (late beats: its process starved, Redis slow) is not reaped; once
// the connection closes (the process died) it is reaped at the next look.
func TestLateNodeWithActiveConnectionIsNotReaped(t *testing.T) {
	rs := redistest.Start(t)
	needRealRedis(t, rs) // CLIENT LIST
	lapsedNode(t, rs, "b")
	bc, stop := busyNodeConn(t, rs, "b")
	// A TTL of 3 s: b's commands, 100 ms apart, keep it active even on a
	// crowded machine.
	a, _ := startNode(t, rs, "a", func(o *redis.Options) { o.HeartbeatTTL = 3 * time.Second })
	waitStats(t, a, "three looks that defer the reap", func(st redis.Stats) bool { return st.ReapsDeferred >= 3 })
	c := rs.Client()
	if st := a.Stats(); st.Reaped != 0 || !c.SIsMember(context.Background(), "room_members:r", "u").Val() {
		t.Fatalf("the late node was reaped: %+v", st)
	}
	stop()
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	waitStats(t, a, "the reap once b's connection closed", func(st redis.Stats) bool { return st.Reaped == 1 })
	if c.SIsMember(context.Background(), "room_members:r", "u").Val() {
		t.Fatal("b's member is still in the room")
	}
}

// A node whose connection stays open but sends nothing (a hung process, a
// host cut off: Redis keeps the connection) is reaped once its last command
// is a heartbeat TTL old: b sends commands until a has deferred its reap,
// then stops, its connection left open.
func TestLateNodeWithIdleConnectionIsReaped(t *testing.T) {
	rs := redistest.Start(t)
	needRealRedis(t, rs)
	lapsedNode(t, rs, "b")
	_, stop := busyNodeConn(t, rs, "b")
	a, _ := startNode(t, rs, "a", func(o *redis.Options) { o.HeartbeatTTL = 3 * time.Second })
	waitStats(t, a, "a look that defers the reap", func(st redis.Stats) bool { return st.ReapsDeferred >= 1 })
	stop() // b hangs: no command from now on, its connection open
	waitStats(t, a, "the reap of the idle node", func(st redis.Stats) bool { return st.Reaped == 1 })
	list := rs.Client().ClientList(context.Background()).Val()
	if !strings.Contains(list, "name=chatd:b ") {
		t.Fatalf("b's connection is gone (the test wants it open): %s", list)
	}
}
