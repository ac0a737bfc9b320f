package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/brokertest"
	"github.com/chatd/chatd/server/broker/redis"
	"github.com/chatd/chatd/server/internal/redistest"
)

func needRealRedis(t *testing.T, rs *redistest.Server) {
	t.Helper()
	if rs.Mini() {
		t.Skip("needs a real redis-server")
	}
}

// A room's history is a meta hash and a list of "<ms> <payload>" entries
// (history.go), both with the history age plus its slack as TTL, and no
// stream.
func TestHistoryLayout(t *testing.T) {
	rs := redistest.Start(t)
	needRealRedis(t, rs)
	const age = time.Hour
	a, _ := startNode(t, rs, "a", func(o *redis.Options) { o.HistoryAge = age }, "r")
	storeNow(t, a, "r", `{"n":1}`)
	ctx := context.Background()
	c := rs.Client()
	if typ := c.Type(ctx, "chatd:{r}:log").Val(); typ != "list" {
		t.Fatalf("log is a %q", typ)
	}
	if n := c.Exists(ctx, "chatd:{r}:history").Val(); n != 0 {
		t.Fatal("a stream was written")
	}
	entries := c.LRange(ctx, "chatd:{r}:log", 0, -1).Val()
	if len(entries) != 1 {
		t.Fatalf("log %q", entries)
	}
	ms, p, _ := strings.Cut(entries[0], " ")
	if at, err := strconv.ParseInt(ms, 10, 64); err != nil || time.Since(time.UnixMilli(at)).Abs() > time.Minute {
		t.Fatalf("entry time %q", ms)
	}
	meta := c.HGetAll(ctx, "chatd:{r}:meta").Val()
	if !strings.HasPrefix(p, `{"n":1,"origin":"a"`) || !strings.HasSuffix(p, `,"offset":1,"epoch":"`+meta["epoch"]+`"}`) {
		t.Fatalf("entry payload %q, meta %v", p, meta)
	}
	if meta["offset"] != "1" || meta["bytes"] != strconv.Itoa(len(entries[0])) {
		t.Fatalf("meta %v, want offset 1 and bytes %d", meta, len(entries[0]))
	}
	want := age + age/8 // ttlSlack
	for _, k := range []string{"chatd:{r}:meta", "chatd:{r}:log"} {
		if ttl := c.PTTL(ctx, k).Val(); ttl > want || ttl < want-time.Minute {
			t.Fatalf("%s TTL %v, want %v", k, ttl, want)
		}
	}
	// The TTL is set lazily: a second store within the slack leaves it.
	if err := c.PExpire(ctx, "chatd:{r}:log", age+time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	storeNow(t, a, "r", `{"n":2}`)
	if ttl := c.PTTL(ctx, "chatd:{r}:log").Val(); ttl > age+time.Minute {
		t.Fatalf("log TTL %v: set again by a store within the slack", ttl)
	}
}

// A publish batch calls the store script once per room with messages to
// store, with every event of that room in the batch inside it: the room's
// order holds (plain events between stored ones), offsets are consecutive.
// The batch is made by holding Redis' writes back (CLIENT PAUSE WRITE)
// while the events queue.
func TestStoreOneCallPerRoomPerBatch(t *testing.T) {
	rs := redistest.Start(t)
	needRealRedis(t, rs)
	// No heartbeat during the test: a beat held back by the pause would be
	// one more script call in the count below.
	quiet := func(o *redis.Options) { o.HeartbeatInterval, o.HeartbeatTTL = time.Hour, 2*time.Hour }
	a, r := startNode(t, rs, "a", quiet, "x", "y", "z")
	ctx := context.Background()
	c := rs.Client()
	storeNow(t, a, "x", `{"n":0}`) // the script is known now
	r.Wait(t, "x", 1)
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "CLIENT", "PAUSE", 2000, "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	offsets := map[string]uint64{}
	pub := func(room, body string, store bool) {
		wg.Add(1)
		a.Publish(&broker.Event{Room: room, Body: []byte(body), Store: store}, func(off uint64, err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			offsets[room+body] = off
			mu.Unlock()
		})
	}
	pub("x", `{"n":1}`, true) // the first goes alone and waits on the pause
	waitPausedScript(t, func() string { return c.ClientList(ctx).Val() })
	for i := 2; i <= 9; i++ {
		pub("x", fmt.Sprintf(`{"n":%d}`, i), i%3 != 0)
		pub("y", fmt.Sprintf(`{"n":%d}`, i), true)
		pub("z", fmt.Sprintf(`{"n":%d}`, i), false)
	}
	if err := c.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	got := r.Wait(t, "x", 10)
	var order []string
	for _, ev := range got[1:] {
		order = append(order, ev.Body+"@"+strconv.FormatUint(ev.Pos.Offset, 10))
	}
	want := []string{`{"n":1}@2`, `{"n":2}@3`, `{"n":3}@0`, `{"n":4}@4`, `{"n":5}@5`, `{"n":6}@0`, `{"n":7}@6`,
		`{"n":8}@7`, `{"n":9}@0`}
	if !slices.Equal(order, want) {
		t.Fatalf("room x got %v, want %v", order, want)
	}
	for i := 2; i <= 9; i++ {
		if off := offsets[fmt.Sprintf(`y{"n":%d}`, i)]; off != uint64(i-1) {
			t.Fatalf("room y message %d: offset %d, want %d", i, off, i-1)
		}
	}
	if r.Wait(t, "z", 8)[7].Body != `{"n":9}` {
		t.Fatal("room z out of order")
	}
	// Two batches: the first event alone, then the rest, queued behind the
	// pause: one call for x and one for y in it, so 3 calls for 14 stored
	// messages; every event is published once (commandstats counts a
	// script's commands too).
	info := c.Info(ctx, "commandstats").Val()
	if calls := statCalls(info, "evalsha"); calls != 3 {
		t.Fatalf("%d store script calls, want 3\n%s", calls, info)
	}
	if calls := statCalls(info, "publish"); calls != 25 {
		t.Fatalf("%d PUBLISH commands, want 25 (x 9, y 8, z 8)", calls)
	}
}

// waitPausedScript waits until Redis holds a script call back on its
// CLIENT PAUSE (CLIENT LIST shows it blocked, flag b, on evalsha): the first
// batch is then on its way alone.
func waitPausedScript(t *testing.T, clientList func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(clientList(), "\n") {
			f := strings.Fields(line)
			if slices.Contains(f, "flags=b") && slices.Contains(f, "cmd=evalsha") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no store script call held back by the pause within 5 s")
		}
		time.Sleep(time.Millisecond) // polling Redis for the state; nothing to await
	}
}

// statCalls reads a command's calls from INFO commandstats.
func statCalls(info, cmd string) int {
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// A room's history keeps at most HistoryRoomBytes of entries, the oldest
// going first; a message larger than that is delivered, with its offset,
// but not kept (so a recovery across it reports recovered: false).
func TestHistoryRoomBytes(t *testing.T) {
	rs := redistest.Start(t)
	needRealRedis(t, rs)
	body := func(i int) string { return fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", 100)) }
	a, _ := startNode(t, rs, "a", nil, "r")
	storeNow(t, a, "probe", body(1))
	entry := len(rs.Client().LIndex(context.Background(), "chatd:{probe}:log", 0).Val()) // offsets 1..9: one size
	limit := 3*entry + entry/2
	b, rb := startNode(t, rs, "b", func(o *redis.Options) { o.HistoryRoomBytes = limit }, "r")
	for i := 1; i <= 9; i++ {
		storeNow(t, b, "r", body(i))
	}
	h := brokertest.HistoryNow(t, b, "r", broker.HistoryQuery{Limit: 100})
	var offs []uint64
	for _, p := range h.Messages {
		var m struct{ Offset uint64 }
		if err := json.Unmarshal([]byte(p), &m); err != nil {
			t.Fatal(err)
		}
		offs = append(offs, m.Offset)
	}
	if !slices.Equal(offs, []uint64{7, 8, 9}) {
		t.Fatalf("kept %v, want 7..9 (%d bytes of %d-byte entries)", offs, limit, entry)
	}
	ctx := context.Background()
	if got := rs.Client().HGet(ctx, "chatd:{r}:meta", "bytes").Val(); got != strconv.Itoa(3*entry) {
		t.Fatalf("meta bytes %s, want %d", got, 3*entry)
	}
	big := fmt.Sprintf(`{"n":10,"pad":"%s"}`, strings.Repeat("y", limit))
	if off := storeNow(t, b, "r", big); off != 10 {
		t.Fatalf("a message over the cap got offset %d", off)
	}
	if got := rb.Wait(t, "r", 10); got[9].Body != big {
		t.Fatal("the message over the cap was not delivered")
	}
	h = syncNow(t, b, "r", broker.HistoryQuery{Since: &broker.Position{Epoch: h.Epoch, Offset: 8}, Limit: 5})
	if h.Recovered || h.Offset != 10 || len(h.Messages) != 3 {
		t.Fatalf("since 8 across the message not kept: recovered %v, offset %d, %d messages", h.Recovered, h.Offset,
			len(h.Messages))
	}
	if off := storeNow(t, b, "r", body(11)); off != 11 {
		t.Fatal(off)
	}
	rb.Wait(t, "r", 11)
	h = syncNow(t, b, "r", broker.HistoryQuery{Since: &broker.Position{Epoch: h.Epoch, Offset: 10}, Limit: 5})
	if !h.Recovered || len(h.Messages) != 1 {
		t.Fatalf("since 10: %+v", h)
	}
}

// A Redis that lost its scripts (SCRIPT FLUSH, as after a restart) gets
// them again: the store and the reads go on, counted.
func TestScriptReload(t *testing.T) {
	rs := redistest.Start(t)
	needRealRedis(t, rs)
	a, _ := startNode(t, rs, "a", nil, "r")
	storeNow(t, a, "r", `{"n":1}`)
	loads := a.Stats().ScriptLoads // (1: the first call)
	if err := rs.Client().ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if off := storeNow(t, a, "r", `{"n":2}`); off != 2 {
		t.Fatalf("offset %d after SCRIPT FLUSH", off)
	}
	if h := brokertest.HistoryNow(t, a, "r", broker.HistoryQuery{Limit: 5}); len(h.Messages) != 2 {
		t.Fatalf("history after SCRIPT FLUSH: %+v", h)
	}
	if n := a.Stats().ScriptLoads - loads; n != 1 {
		t.Fatalf("%d script reloads counted, want 1 (the store's; reads reload through go-redis)", n)
	}
}

// A history left by a version before the log (a stream beside the meta
// hash) is not read: numbering goes on, but a recovery from before the
// upgrade reports recovered: false; DeleteHistory removes the stream too.
func TestOldStreamHistory(t *testing.T) {
	rs := redistest.Start(t)
	needRealRedis(t, rs)
	ctx := context.Background()
	c := rs.Client()
	c.HSet(ctx, "chatd:{r}:meta", "epoch", "old", "offset", 5)
	c.Do(ctx, "XADD", "chatd:{r}:history", "5-0", "p", `{"n":5,"offset":5,"epoch":"old"}`, "t", time.Now().UnixMilli())
	a, ra := startNode(t, rs, "a", nil, "r")
	if off := storeNow(t, a, "r", `{"n":6}`); off != 6 {
		t.Fatalf("offset %d", off)
	}
	// A Sync answers at the room's delivered position: offset 6 has to reach
	// this node before a recovery since 5 can hold it.
	if ev := ra.Wait(t, "r", 1); ev[0].Pos.Offset != 6 {
		t.Fatalf("first delivery %+v, want offset 6", ev[0])
	}
	if h := syncNow(t, a, "r", broker.HistoryQuery{Since: &broker.Position{Epoch: "old", Offset: 4}}); h.Recovered {
		t.Fatalf("recovered from the old stream: %+v", h)
	}
	if h := syncNow(t, a, "r", broker.HistoryQuery{Since: &broker.Position{Epoch: "old", Offset: 5}}); !h.Recovered ||
		len(h.Messages) != 1 {
		t.Fatalf("since 5: %+v", h)
	}
	done := make(chan error, 1)
	a.DeleteHistory("r", func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, "chatd:{r}:meta", "chatd:{r}:log", "chatd:{r}:history").Val(); n != 0 {
		t.Fatalf("%d history keys left after DeleteHistory", n)
	}
}
