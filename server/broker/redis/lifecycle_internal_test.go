package redis

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/internal/redistest"
)

// ourGoroutines returns the stacks of the goroutines other than the
// caller's that run code of this package or were started by it.
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, s := range strings.Split(string(buf), "\n\n") {
		if i > 0 && strings.Contains(s, "chatd/server/broker/redis.") { // [0]: the caller
			out = append(out, s)
		}
	}
	return out
}

// leftGoroutines is ourGoroutines once those that are only finishing have
// gone: a goroutine whose deferred wg.Done let Close return may still be on
// its way out (its stack shows it between the Done and its return) for a
// moment on a loaded machine. One that keeps running is still there after
// 2 s and is reported.
func leftGoroutines() []string {
	deadline := time.Now().Add(2 * time.Second)
	for {
		g := ourGoroutines()
		if len(g) == 0 || time.Now().After(deadline) {
			return g
		}
		runtime.Gosched()
		time.Sleep(5 * time.Millisecond)
	}
}

// blockingReceiver holds the broker's goroutine that hands it a payload
// containing block, until release is closed.
type blockingReceiver struct {
	recordingReceiver
	block   string
	entered chan string
	release chan struct{}
	resyncs atomic.Int32
}

func (r *blockingReceiver) Receive(room, payload string) error {
	if strings.Contains(payload, r.block) {
		r.entered <- "fill"
		<-r.release
	}
	return r.recordingReceiver.Receive(room, payload)
}

func (r *blockingReceiver) Resync(string, string) { r.resyncs.Add(1) }

// Close returns only once every goroutine the broker started has ended:
// here a gap fill, a Sync's history read, a room list and a checkpoint,
// each held in the callback it runs, while Close is called. Before, Close
// returned while they still ran (issue 25), and a fill that ended after it
// logged and pushed a resync.
func TestCloseWaitsForItsGoroutines(t *testing.T) {
	rs := redistest.Start(t)
	r := &blockingReceiver{block: `"n":2,`, entered: make(chan string, 8), release: make(chan struct{})}
	b, err := New(Options{URL: rs.URL(), NodeID: "n", Logger: quietLogger(), OpTimeout: 2 * time.Second,
		DropDelivery: func(room, payload string) bool { return room == "g" && strings.Contains(payload, `"n":2,`) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(r); err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			close(r.release)
		}
	}()
	subscribe := func(room string) {
		done := make(chan error, 1)
		b.Subscribe(room, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	subscribe("g")
	subscribe("s")
	// A gap fill: offset 2 is dropped on the way, 3 makes the flow read it
	// back, and handing it over blocks.
	for i := 1; i <= 3; i++ {
		ch := make(chan error, 1)
		b.Publish(&broker.Event{Room: "g", Body: []byte(`{"type":"m","n":` + string(rune('0'+i)) + `,"x":0}`), Store: true},
			func(_ uint64, err error) { ch <- err })
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	hold := func(what string) { r.entered <- what; <-r.release }
	// A Sync that reads Redis (Limit), held in its fn.
	b.Sync("s", broker.HistoryQuery{Limit: 1}, func(broker.HistoryResult, error) { hold("sync") })
	// A room list, held in its callback.
	b.Rooms(func([]broker.Room, error) { hold("rooms") })
	// A subscription answered by its checkpoint, held in its callback.
	b.Subscribe("c", func(error) { hold("checkpoint") })
	seen := map[string]bool{}
	for len(seen) < 4 {
		select {
		case w := <-r.entered:
			seen[w] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("held so far: %v", seen)
		}
	}
	closed := make(chan struct{})
	go func() { _ = b.Close(); close(closed) }()
	select {
	case <-closed:
		t.Errorf("Close returned while %d of its goroutines still ran:\n%s", len(ourGoroutines()),
			strings.Join(ourGoroutines(), "\n\n"))
	case <-time.After(300 * time.Millisecond): // (only a wrong Close can return meanwhile)
	}
	close(r.release)
	released = true
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return once the callbacks did")
	}
	if g := leftGoroutines(); len(g) > 0 {
		t.Fatalf("%d goroutines of the broker left after Close:\n%s", len(g), strings.Join(g, "\n\n"))
	}
	if n := r.resyncs.Load(); n != 0 {
		t.Fatalf("%d resyncs pushed while closing", n)
	}
}

// Requests that arrive while Close runs are answered exactly once (by
// their result, or an error), never start a goroutine that Close does not
// wait for, and leave nothing running once Close returned and the callers
// stopped. (Before, History, Members and DeleteHistory added to the wait
// group after checking closed, racing Close's Wait; Rooms and Sync were not
// counted at all.)
func TestCloseWhileRequestsArrive(t *testing.T) {
	rs := redistest.Start(t)
	// (Close waits up to OpTimeout for the publishes that keep coming.)
	b, err := New(Options{URL: rs.URL(), NodeID: "n", Logger: quietLogger(), OpTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(&recordingReceiver{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	b.Subscribe("r", func(error) { close(done) })
	<-done
	var asked, answered atomic.Int64
	answer := func() { answered.Add(1) }
	stop := make(chan struct{})
	var callers sync.WaitGroup
	for k := 0; k < 4; k++ {
		callers.Add(1)
		go func() {
			defer callers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				asked.Add(6)
				b.History("r", broker.HistoryQuery{Limit: 2}, func(broker.HistoryResult, error) { answer() })
				b.Members("r", 5, func([]broker.Member, int, error) { answer() })
				b.DeleteHistory("r", func(error) { answer() })
				b.Rooms(func([]broker.Room, error) { answer() })
				b.Sync("r", broker.HistoryQuery{Limit: 1}, func(broker.HistoryResult, error) { answer() })
				b.Publish(&broker.Event{Room: "r", Body: []byte(`{"type":"m"}`), Store: true}, func(uint64, error) { answer() })
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // (requests in flight while Close runs)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	callers.Wait()
	if g := leftGoroutines(); len(g) > 0 {
		t.Fatalf("%d goroutines of the broker left after Close:\n%s", len(g), strings.Join(g, "\n\n"))
	}
	if a, n := asked.Load(), answered.Load(); a != n || a == 0 {
		t.Fatalf("%d requests, %d answers", a, n)
	}
}

// In Redis Cluster mode too (a subscriber link and a publishing lane per
// master, slot map reads): nothing of the broker runs once Close returned.
func TestClusterCloseLeavesNothing(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	b, err := New(Options{Cluster: rc.Seeds(), NodeID: "n", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(&recordingReceiver{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ { // rooms on every master
		room := "room" + string(rune('a'+i))
		done := make(chan error, 1)
		b.Subscribe(room, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		wg.Add(3)
		b.Publish(&broker.Event{Room: room, Body: []byte(`{"type":"m"}`), Store: true}, func(uint64, error) { wg.Done() })
		b.Sync(room, broker.HistoryQuery{Limit: 1}, func(broker.HistoryResult, error) { wg.Done() })
		b.Members(room, 5, func([]broker.Member, int, error) { wg.Done() })
	}
	wg.Wait()
	if st := b.Stats(); st.Masters != 3 {
		t.Fatalf("links to %d masters, want 3", st.Masters)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if g := leftGoroutines(); len(g) > 0 {
		t.Fatalf("%d goroutines of the broker left after Close:\n%s", len(g), strings.Join(g, "\n\n"))
	}
}

// Close lets the writes already queued through before it stops (the last
// clients' leaves and the userLeft they publish): here Redis holds writes
// back when Close is called, and lets them go a moment later. Every queued
// publish and join succeeds, and Close returns as soon as they are done
// (woken by the last one, not by its OpTimeout).
func TestCloseLetsQueuedWritesThrough(t *testing.T) {
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server (CLIENT PAUSE)")
	}
	const opTimeout = 10 * time.Second
	b, err := New(Options{URL: rs.URL(), NodeID: "n", Logger: quietLogger(), OpTimeout: opTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(&recordingReceiver{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rs.Client().Do(ctx, "CLIENT", "PAUSE", 20000, "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int32
	var answered sync.WaitGroup
	for i := 0; i < 100; i++ {
		answered.Add(2)
		b.Publish(&broker.Event{Room: "w", Body: []byte(`{"type":"m"}`), Store: true}, func(_ uint64, err error) {
			if err != nil {
				failed.Add(1)
			}
			answered.Done()
		})
		b.Join(broker.Member{Room: "w", User: "u" + string(rune('0'+i%10)), Name: "u"}, "w", func(_ broker.Membership, err error) {
			if err != nil {
				failed.Add(1)
			}
			answered.Done()
		})
	}
	began := time.Now()
	closed := make(chan struct{})
	go func() { _ = b.Close(); close(closed) }()
	time.Sleep(200 * time.Millisecond) // (Close is waiting by now; if not, it waits all the same)
	if err := rs.Client().Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(2 * opTimeout):
		t.Fatal("Close did not return")
	}
	answered.Wait()
	// (A lost wake-up would keep Close until its OpTimeout: 10 s.)
	if n := failed.Load(); n != 0 || time.Since(began) > opTimeout/2 {
		t.Fatalf("%d writes failed; Close took %v", n, time.Since(began))
	}
}
