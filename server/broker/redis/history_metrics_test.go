package redis_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
	"github.com/prometheus/client_golang/prometheus"
)

func metricValue(t *testing.T, b *redis.Broker, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(b)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// The history counters are exact: bytes stored, entries trimmed and their
// bytes, whose difference is what the room's meta hash holds.
func TestHistoryCounters(t *testing.T) {
	rs := redistestStart(t)
	a, _ := startNode(t, rs, "a", func(o *redis.Options) { o.HistorySize = 2 }, "r")
	for i := 1; i <= 4; i++ {
		storeNow(t, a, "r", fmt.Sprintf(`{"n":%d}`, i))
	}
	// The counters are read in the last publisher's callback: a publisher
	// told its event is stored sees counters that include it.
	got := make(chan redis.Stats, 1)
	a.Publish(&broker.Event{Room: "r", Body: []byte(`{"n":5}`), Store: true}, func(_ uint64, err error) {
		if err != nil {
			t.Errorf("store: %v", err)
		}
		got <- a.Stats()
	})
	var st redis.Stats
	select {
	case st = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("store: no answer")
	}
	ctx := context.Background()
	var kept int64
	for _, e := range rs.Client().LRange(ctx, "chatd:{r}:log", 0, -1).Val() {
		kept += int64(len(e))
	}
	if st.HistoryTrimmed != 3 || st.HistoryAdded-st.HistoryCutBytes != kept || kept == 0 ||
		rs.Client().HGet(ctx, "chatd:{r}:meta", "bytes").Val() != fmt.Sprint(kept) {
		t.Fatalf("stats %+v; the log holds %d bytes", st, kept)
	}
	if v := metricValue(t, a, "chatd_redis_history_trimmed_total"); v != 3 {
		t.Fatalf("chatd_redis_history_trimmed_total %v", v)
	}
}

// chatd_history_bytes estimates the histories' memory from a sample:
// -1 before the first, then within a third of the real total (MEMORY
// USAGE of every history key) for a keyspace of mostly histories.
func TestHistoryBytesSample(t *testing.T) {
	rs := redistestStart(t)
	a, _ := startNode(t, rs, "a", nil)
	if v := metricValue(t, a, "chatd_history_bytes"); v != -1 {
		t.Fatalf("before the first sample: %v", v)
	}
	for i := 0; i < 150; i++ {
		storeNow(t, a, fmt.Sprint("room", i), fmt.Sprintf(`{"n":%d,"text":"hello there"}`, i))
	}
	ctx := context.Background()
	c := rs.Client()
	var real int64
	iter := c.Scan(ctx, 0, "chatd:{*", 1000).Iterator()
	for iter.Next(ctx) {
		real += c.MemoryUsage(ctx, iter.Val()).Val()
	}
	// The first scrape started a sample (of an empty keyspace); the next
	// starts after broker.DefaultHistorySampleInterval, which a test cannot
	// wait for: sample now.
	redis.SampleHistoryNow(a)
	var v float64
	deadline := time.Now().Add(5 * time.Second)
	for v = metricValue(t, a, "chatd_history_bytes"); v <= 0; v = metricValue(t, a, "chatd_history_bytes") {
		if time.Now().After(deadline) {
			t.Fatalf("no sample: %v", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if math.Abs(v-float64(real)) > float64(real)/3 {
		t.Fatalf("estimate %v, real %d", v, real)
	}
}

// redistestStart starts a real redis-server (MEMORY USAGE, RANDOMKEY).
func redistestStart(t *testing.T) *redistest.Server {
	t.Helper()
	rs := redistest.Start(t)
	needRealRedis(t, rs)
	return rs
}
