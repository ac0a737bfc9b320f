package redis_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/brokertest"
	"github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/chatd/chatd/server/sink"
)

func sinkBroker(t *testing.T, o redis.Options) *redis.Broker {
	t.Helper()
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := redis.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(brokertest.NewReceiver()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// publishStored publishes a stored message and waits for its offset.
func publishStored(t *testing.T, b *redis.Broker, room, content string) uint64 {
	t.Helper()
	done := make(chan error, 1)
	var off uint64
	b.Publish(&broker.Event{Room: room, Body: []byte(`{"type":"message","content":"` + content + `"}`), Store: true},
		func(o uint64, err error) { off = o; done <- err })
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("publish %s: %v", room, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("publish %s: no answer", room)
	}
	return off
}

// readAll reads every shard's entries (without acknowledging them).
func readAll(t *testing.T, q sink.Queue) (map[string][]sink.Entry, int64) {
	t.Helper()
	out := map[string][]sink.Entry{}
	var backlog int64
	for s := range q.Shards() {
		es, n, err := q.Read(context.Background(), s, 1000)
		if err != nil {
			t.Fatal(err)
		}
		backlog += n
		for _, e := range es {
			out[e.Room] = append(out[e.Room], e)
		}
	}
	return out, backlog
}

// sinkQueueContract checks the Redis sink queue on a broker made by mk:
// every stored message is queued with its place and stored payload, each
// room's in offset order, spread over shards; plain publishes are not;
// Ack removes exactly what was acknowledged; a full queue counts what it
// refuses; a lease has one holder at a time and is released.
func sinkQueueContract(t *testing.T, mk func(id string, max int) *redis.Broker) {
	b := mk("n1", 1000)
	q := b.SinkQueue()
	if q == nil || q.Shards() != 4 || !q.Durable() {
		t.Fatalf("SinkQueue %v", q)
	}
	rooms := []string{"alpha", "beta", "gamma", "delta", "eps{x}", "zeta%"}
	for i := range 30 {
		room := rooms[i%len(rooms)]
		if off := publishStored(t, b, room, fmt.Sprint(room, i)); off != uint64(i/len(rooms)+1) {
			t.Fatalf("offset %d", off)
		}
	}
	b.Publish(&broker.Event{Room: "alpha", Body: []byte(`{"type":"typing"}`)}, nil)
	got, backlog := readAll(t, q)
	if backlog != 30 || len(got) != len(rooms) {
		t.Fatalf("backlog %d, rooms %d", backlog, len(got))
	}
	shardsUsed := map[string]bool{}
	for _, room := range rooms {
		es := got[room]
		if len(es) != 5 {
			t.Fatalf("room %s: %d entries", room, len(es))
		}
		for i, e := range es {
			shardsUsed[e.Queue] = true
			if e.Offset != uint64(i+1) || e.Epoch == "" || e.At == 0 ||
				!strings.Contains(e.Payload, fmt.Sprintf(`"offset":%d,"epoch":"%s"}`, e.Offset, e.Epoch)) ||
				!strings.Contains(e.Payload, fmt.Sprintf(`"content":"%s%d"`, room, i*len(rooms)+indexOf(rooms, room))) {
				t.Fatalf("room %s entry %d: %+v", room, i, e)
			}
		}
	}
	if len(shardsUsed) < 2 {
		t.Fatalf("every room in one queue: %v", shardsUsed)
	}

	// A small read: at most max entries, each room's from its first, in
	// offset order (a prefix of its queue).
	for sh := range q.Shards() {
		es, _, err := q.Read(context.Background(), sh, 3)
		if err != nil || len(es) > 3 {
			t.Fatalf("read of 3: %d entries, %v", len(es), err)
		}
		next := map[string]uint64{}
		for _, e := range es {
			if e.Offset != next[e.Room]+1 {
				t.Fatalf("read of 3, shard %d: room %s offset %d after %d", sh, e.Room, e.Offset, next[e.Room])
			}
			next[e.Room] = e.Offset
		}
	}

	// Ack removes what it is given, and what is older in its queues; a
	// message stored afterwards stays.
	ctx := context.Background()
	var left []sink.Entry
	for s := range q.Shards() {
		es, _, _ := q.Read(ctx, s, 1000)
		if len(es) > 0 {
			if err := q.Ack(ctx, s, es[:len(es)-1]); err != nil {
				t.Fatal(err)
			}
			left = append(left, es[len(es)-1])
		}
	}
	after, backlog := readAll(t, q)
	if int(backlog) != len(left) {
		t.Fatalf("after acks: backlog %d, want one per shard used (%d)", backlog, len(left))
	}
	for _, e := range left {
		if es := after[e.Room]; len(es) != 1 || es[0].ID != e.ID {
			t.Fatalf("after acks: room %s has %+v, want only %s", e.Room, es, e.ID)
		}
	}
	for s := range q.Shards() {
		es, _, _ := q.Read(ctx, s, 1000)
		if err := q.Ack(ctx, s, es); err != nil {
			t.Fatal(err)
		}
	}

	// The bound: a queue with max entries refuses more, counted once.
	small := mk("n2", 2)
	for i := range 5 {
		publishStored(t, small, "bounded", fmt.Sprint(i))
	}
	sq := small.SinkQueue()
	var n, dropped int64
	for s := range sq.Shards() {
		es, _, _ := sq.Read(ctx, s, 100)
		for _, e := range es {
			if e.Room == "bounded" {
				n++
			}
		}
		d, err := sq.TakeDropped(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		dropped += d
	}
	if n != 2 || dropped != 3 {
		t.Fatalf("bounded room: %d queued, %d dropped; want 2 and 3", n, dropped)
	}
	for s := range sq.Shards() {
		if d, _ := sq.TakeDropped(ctx, s); d != 0 {
			t.Fatalf("drops counted twice: %d", d)
		}
	}

	// Leases: one holder; renewals by it; released to the other.
	if ok, err := q.Claim(ctx, 1, time.Minute); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if ok, _ := sq.Claim(ctx, 1, time.Minute); ok {
		t.Fatal("two holders")
	}
	if ok, _ := q.Claim(ctx, 1, time.Minute); !ok {
		t.Fatal("the holder cannot renew")
	}
	sq.Release(ctx, 1) // not its lease: nothing happens
	if ok, _ := sq.Claim(ctx, 1, time.Minute); ok {
		t.Fatal("released by a non-holder")
	}
	q.Release(ctx, 1)
	if ok, _ := sq.Claim(ctx, 1, 200*time.Millisecond); !ok {
		t.Fatal("not released")
	}
	// It lapses without renewal (a node killed with -9).
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := q.Claim(ctx, 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease did not lapse")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func TestSinkQueueSingle(t *testing.T) {
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server (streams in scripts, lease expiry)")
	}
	sinkQueueContract(t, func(id string, max int) *redis.Broker {
		return sinkBroker(t, redis.Options{URL: rs.URL(), NodeID: id, Sink: redis.SinkOptions{Shards: 4, MaxBacklog: max}})
	})
}

func TestSinkQueueCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	sinkQueueContract(t, func(id string, max int) *redis.Broker {
		return sinkBroker(t, redis.Options{Cluster: rc.Seeds(), NodeID: id, Sink: redis.SinkOptions{Shards: 4, MaxBacklog: max}})
	})
}

// Without the sink nothing is queued.
func TestSinkOffQueuesNothing(t *testing.T) {
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server")
	}
	b := sinkBroker(t, redis.Options{URL: rs.URL(), NodeID: "n"})
	if b.SinkQueue() != nil {
		t.Fatal("SinkQueue without the sink")
	}
	publishStored(t, b, "r", "x")
	keys, err := rs.Client().Keys(context.Background(), "chatd:sink*").Result()
	if err != nil || len(keys) != 0 {
		t.Fatalf("sink keys without the sink: %v %v", keys, err)
	}
	if _, err := redis.New(redis.Options{URL: rs.URL(), HistorySize: -1, Sink: redis.SinkOptions{Shards: 1}}); err == nil {
		t.Fatal("a sink without history accepted")
	}
}
