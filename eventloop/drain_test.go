package eventloop_test

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/gorilla/websocket"
)

// Drain spreads the 1001 closes over its window instead of closing every
// client in the same instant, refuses newcomers meanwhile, and returns once
// all are gone.
func TestDrainSpreadsCloses(t *testing.T) {
	h := newEchoHandler()
	e, err := eventloop.Start(eventloop.Config{Addr: "127.0.0.1:0", Loops: 2, Handler: h,
		CloseTimeout: 200 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var mu sync.Mutex
	var at []time.Time
	var wg sync.WaitGroup
	for range n {
		ws := dial(t, e)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _, err := ws.ReadMessage()
			if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 1001 {
				t.Errorf("got %v, want close 1001", err)
			}
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
		}()
	}
	collectOpen(t, h, n)
	addr := e.Addr()
	const window = time.Second
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.Drain(ctx, window)
	}()
	wg.Wait() // every client got its 1001
	if err := <-done; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	// The last batch leaves (steps-1)/steps of the window after the first:
	// a loaded machine only stretches this, so a lower bound is safe.
	if spread := at[n-1].Sub(at[0]); spread < window/3 {
		t.Fatalf("closes spread over %v, want most of %v", spread, window)
	}
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil); err == nil {
		t.Fatal("a drained engine still accepts")
	}
}

// EachConn visits every open WebSocket once, on its loop.
func TestEachConn(t *testing.T) {
	h := newEchoHandler()
	e := startEngine(t, h, nil)
	const n = 10
	for range n {
		dial(t, e)
	}
	collectOpen(t, h, n)
	var mu sync.Mutex
	seen := map[*eventloop.Conn]bool{}
	if err := e.EachConn(context.Background(), func(c *eventloop.Conn) {
		mu.Lock()
		seen[c] = true
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("visited %d, want %d", len(seen), n)
	}
}

// With CoalesceDelay, frames sent to one connection from another goroutine
// within the delay leave in one write.
func TestCoalesceDelayBatches(t *testing.T) {
	h := newEchoHandler()
	e := startEngine(t, h, func(c *eventloop.Config) { c.CoalesceDelay = 200 * time.Millisecond })
	ws := dial(t, e)
	c := collectOpen(t, h, 1)[0]
	before := statsOnLoop(e, c)
	const n = 16
	for i := range n {
		c.Send(eventloop.TextFrame([]byte{byte('a' + i)}))
	}
	for i := range n {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, p, err := ws.ReadMessage()
		if err != nil || string(p) != string(rune('a'+i)) {
			t.Fatalf("frame %d: %q %v", i, p, err)
		}
	}
	after := statsOnLoop(e, c)
	if w, f := after.WriteCalls-before.WriteCalls, after.FramesOut-before.FramesOut; w != 1 || f != n {
		t.Fatalf("%d frames in %d writes, want %d in 1", f, w, n)
	}
}

// A port in use is reported as such (gnet alone says "bad file descriptor").
func TestStartPortInUse(t *testing.T) {
	e := startEngine(t, newEchoHandler(), nil)
	_, err := eventloop.Start(eventloop.Config{Addr: e.Addr(), Loops: 1, Handler: newEchoHandler(), Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("got %v, want an error saying the address is in use", err)
	}
}

// Past MaxTCPConns an accepted socket is answered 503 at once (before it
// sends anything) and closed, and counted; the others are untouched.
func TestMaxTCPConns(t *testing.T) {
	h := newEchoHandler()
	e := startEngine(t, h, func(c *eventloop.Config) { c.MaxTCPConns = 2 })
	a, b := dial(t, e), dial(t, e)
	collectOpen(t, h, 2)
	c := dialTCP(t, e)
	resp, _ := c.response()
	if resp.StatusCode != 503 {
		t.Fatalf("third connection got %d, want 503", resp.StatusCode)
	}
	c.expectEOF()
	if n := e.Stats().HandshakeFailures[eventloop.HandshakeFull]; n != 1 {
		t.Fatalf("full counter %d", n)
	}
	for _, ws := range []*websocket.Conn{a, b} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte("still")); err != nil {
			t.Fatal(err)
		}
		if _, p, err := ws.ReadMessage(); err != nil || string(p) != "still" {
			t.Fatalf("%q %v", p, err)
		}
	}
}

// An idle engine drains at once, whatever the window.
func TestDrainIdleIsImmediate(t *testing.T) {
	e, err := eventloop.Start(eventloop.Config{Addr: "127.0.0.1:0", Loops: 2, Handler: newEchoHandler(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Drain(context.Background(), time.Hour) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an idle drain waited for its window")
	}
}

// statsOnLoop reads the counters on c's loop: writes are counted at the end
// of their turn, which may come after the client already has the bytes.
func statsOnLoop(e *eventloop.Engine, c *eventloop.Conn) eventloop.Stats {
	var st eventloop.Stats
	done := make(chan struct{})
	c.Exec(func() { st = e.Stats(); close(done) })
	<-done
	return st
}
