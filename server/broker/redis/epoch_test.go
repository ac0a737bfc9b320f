package redis_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/brokertest"
	"github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
)

// startNode starts a broker on rs (mod adjusts its options) and subscribes
// it to rooms.
func startNode(t *testing.T, rs *redistest.Server, id string, mod func(*redis.Options), rooms ...string) (*redis.Broker, *brokertest.Receiver) {
	t.Helper()
	o := redis.Options{URL: rs.URL(), NodeID: id, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		HeartbeatInterval: 100 * time.Millisecond, HeartbeatTTL: time.Second, MaxBackoff: 200 * time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	r := brokertest.NewReceiver()
	return startBroker(t, o, r, rooms...), r
}

// startBroker starts a broker with options o and receiver r, and subscribes
// it to rooms.
func startBroker(t *testing.T, o redis.Options, r *brokertest.Receiver, rooms ...string) *redis.Broker {
	t.Helper()
	b, err := redis.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	for _, room := range rooms {
		done := make(chan error, 1)
		b.Subscribe(room, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatalf("subscribe %s: %v", room, err)
		}
	}
	return b
}

func syncNow(t *testing.T, b broker.Broker, room string, q broker.HistoryQuery) broker.HistoryResult {
	t.Helper()
	type res struct {
		h   broker.HistoryResult
		err error
	}
	ch := make(chan res, 1)
	b.Sync(room, q, func(h broker.HistoryResult, err error) { ch <- res{h, err} })
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("sync %s: %v", room, r.err)
		}
		return r.h
	case <-time.After(10 * time.Second):
		t.Fatalf("sync %s: no answer", room)
	}
	return broker.HistoryResult{}
}

func storeNow(t *testing.T, b broker.Broker, room string, body string) uint64 {
	t.Helper()
	type res struct {
		off uint64
		err error
	}
	ch := make(chan res, 1)
	b.Publish(&broker.Event{Room: room, Body: []byte(body), Store: true}, func(off uint64, err error) { ch <- res{off, err} })
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("store: %v", r.err)
		}
		return r.off
	case <-time.After(10 * time.Second):
		t.Fatal("store: no answer")
	}
	return 0
}

// The epoch a Sync names for an empty room is kept in Redis for the
// history age, no longer: its meta key gets that TTL, and a later Sync of
// the still empty room (on a node that does not know the epoch yet) renews
// it.
func TestEmptyEpochTTL(t *testing.T) {
	rs := redistest.Start(t)
	const age = time.Hour
	a, _ := startNode(t, rs, "a", func(o *redis.Options) { o.HistoryAge = age }, "r")
	e := syncNow(t, a, "r", broker.HistoryQuery{}).Epoch
	ctx := context.Background()
	c := rs.Client()
	meta := "chatd:{r}:meta"
	if got, _ := c.HGetAll(ctx, meta).Result(); got["epoch"] != e || got["offset"] != "0" {
		t.Fatalf("meta %v, want epoch %s offset 0", got, e)
	}
	if ttl := c.TTL(ctx, meta).Val(); ttl <= age-time.Minute || ttl > age {
		t.Fatalf("TTL %v, want the history age %v", ttl, age)
	}
	if err := c.Expire(ctx, meta, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	b, _ := startNode(t, rs, "b", func(o *redis.Options) { o.HistoryAge = age }, "r")
	if got := syncNow(t, b, "r", broker.HistoryQuery{}).Epoch; got != e {
		t.Fatalf("second node: epoch %s, want %s", got, e)
	}
	if ttl := c.TTL(ctx, meta).Val(); ttl <= age-time.Minute {
		t.Fatalf("TTL %v after a Sync of the empty room, want it renewed to %v", ttl, age)
	}
	storeNow(t, a, "r", `{"n":1}`)
	if err := c.Expire(ctx, meta, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	syncNow(t, b, "r", broker.HistoryQuery{Limit: 1})
	if ttl := c.TTL(ctx, meta).Val(); ttl > time.Minute {
		t.Fatalf("TTL %v: a Sync renewed a history that has messages (it lives from its last one)", ttl)
	}
}

// When the epoch named for an empty room expires before its first
// message, that message starts another epoch, and the node whose member was
// told the old one resyncs before delivering it: nothing is lost silently.
func TestEmptyEpochExpired(t *testing.T) {
	rs := redistest.Start(t)
	a, r := startNode(t, rs, "a", func(o *redis.Options) { o.HistoryAge = time.Second }, "x")
	e1 := syncNow(t, a, "x", broker.HistoryQuery{}).Epoch
	deadline := time.Now().Add(5 * time.Second)
	for rs.Client().Exists(context.Background(), "chatd:{x}:meta").Val() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("the empty epoch did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if off := storeNow(t, a, "x", `{"n":1}`); off != 1 {
		t.Fatalf("offset %d", off)
	}
	got := r.Wait(t, "x", 2)
	if got[0].Body != "resync epoch" || got[1].Pos.Offset != 1 || got[1].Pos.Epoch == e1 {
		t.Fatalf("events %+v, want a resync, then offset 1 of an epoch other than %s", got, e1)
	}
	if e2 := syncNow(t, a, "x", broker.HistoryQuery{}).Epoch; e2 != got[1].Pos.Epoch {
		t.Fatalf("Sync names %s, the message carried %s", e2, got[1].Pos.Epoch)
	}
}

// A Redis restarted empty loses the epoch: the node tells its members to
// resync, and the next Sync names a new epoch that the next messages carry.
func TestEpochAfterRedisRestartedEmpty(t *testing.T) {
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server")
	}
	a, r := startNode(t, rs, "a", nil, "y")
	e1 := syncNow(t, a, "y", broker.HistoryQuery{}).Epoch
	rs.Restart()
	got := r.Wait(t, "y", 1)
	if got[0].Body != "resync epoch" {
		t.Fatalf("events %+v, want a resync", got)
	}
	var e2 string
	deadline := time.Now().Add(10 * time.Second)
	for {
		ch := make(chan broker.HistoryResult, 1)
		a.Sync("y", broker.HistoryQuery{}, func(h broker.HistoryResult, err error) {
			if err != nil {
				h = broker.HistoryResult{}
			}
			ch <- h
		})
		if e2 = (<-ch).Epoch; e2 != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no epoch named after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if e2 == e1 {
		t.Fatalf("epoch %s named again after Redis lost it", e1)
	}
	storeNow(t, a, "y", `{"n":1}`)
	got = r.Wait(t, "y", 2)
	if got[1].Pos != (broker.Position{Epoch: e2, Offset: 1}) || len(got) != 2 {
		t.Fatalf("events %+v, want the message at %s/1 and no further resync", got, e2)
	}
}
