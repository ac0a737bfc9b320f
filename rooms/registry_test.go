package rooms_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/rooms"
	"github.com/gorilla/websocket"
)

// opener collects the server side of each connection.
type opener struct{ open chan *eventloop.Conn }

func (o *opener) Upgrade(*eventloop.Conn, *eventloop.Request) *eventloop.Response { return nil }
func (o *opener) HTTP(*eventloop.Request) *eventloop.Response                     { return nil }
func (o *opener) Open(c *eventloop.Conn)                                          { c.SetValue(&rooms.Set{}); o.open <- c }
func (o *opener) Message(*eventloop.Conn, []byte, bool)                           {}
func (o *opener) Close(*eventloop.Conn, eventloop.CloseCode)                      {}

type fixture struct {
	eng     *eventloop.Engine
	reg     *rooms.Registry
	clients []*websocket.Conn
	conns   []*eventloop.Conn // server side, same order as clients
	mu      sync.Mutex
	classes map[string]int // "room/i" -> the class connection i joined room in
}

// setOf is the registry's way to a connection's Set (the opener stores one
// in each connection).
func setOf(c *eventloop.Conn) *rooms.Set { return c.Value().(*rooms.Set) }

// newFixture starts an engine with 2 loops and n connected clients.
func newFixture(t testing.TB, n int) *fixture {
	t.Helper()
	o := &opener{open: make(chan *eventloop.Conn, n)}
	eng, err := eventloop.Start(eventloop.Config{Addr: "127.0.0.1:0", Loops: 2, Handler: o,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
	})
	f := &fixture{eng: eng, reg: rooms.New(eng, 2, setOf), classes: map[string]int{}}
	for i := 0; i < n; i++ {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+eng.Addr()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		f.clients = append(f.clients, ws)
		select {
		case c := <-o.open:
			f.conns = append(f.conns, c)
		case <-time.After(5 * time.Second):
			t.Fatal("no Open")
		}
	}
	return f
}

// on runs fn on c's loop and waits for it.
func on(c *eventloop.Conn, fn func()) {
	done := make(chan struct{})
	c.Exec(func() { fn(); close(done) })
	<-done
}

func (f *fixture) join(room string, i int) *rooms.Room { return f.joinClass(room, i, 0) }

func (f *fixture) joinClass(room string, i, class int) *rooms.Room {
	var r *rooms.Room
	f.mu.Lock()
	f.classes[fmt.Sprintf("%s/%d", room, i)] = class
	f.mu.Unlock()
	on(f.conns[i], func() { r = f.reg.Join(room, f.conns[i], class) })
	return r
}

// leave leaves connection i from room r, if it is in it.
func (f *fixture) leave(r *rooms.Room, i int) bool {
	f.mu.Lock()
	class := f.classes[fmt.Sprintf("%s/%d", r.ID(), i)]
	f.mu.Unlock()
	var ok bool
	on(f.conns[i], func() {
		if k := setOf(f.conns[i]).Index(r.ID()); k >= 0 {
			f.reg.Leave(f.conns[i], class, k)
			ok = true
		}
	})
	return ok
}

// rooms returns the ids of connection i's rooms, in its set's order.
func (f *fixture) rooms(i int) []string {
	var ids []string
	on(f.conns[i], func() {
		set := setOf(f.conns[i])
		for k := 0; k < set.Len(); k++ {
			ids = append(ids, set.At(k).Room().ID())
		}
	})
	return ids
}

// checkIndex fails unless every member's slot in its set is where the room
// lists it (on the loops, one at a time).
func (f *fixture) checkIndex(t testing.TB) {
	t.Helper()
	seen := map[int]bool{}
	for _, c := range f.conns {
		if seen[c.Loop()] {
			continue
		}
		seen[c.Loop()] = true
		var err error
		on(c, func() { err = f.reg.CheckIndex(c.Loop(), setOf) })
		if err != nil {
			t.Fatal(err)
		}
	}
}

// read returns the client's next text message.
func read(t testing.TB, ws *websocket.Conn) string {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, p, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(p)
}

func TestJoinLeaveFree(t *testing.T) {
	f := newFixture(t, 4)
	a := f.join("a", 0)
	if f.join("a", 1) != a || f.join("a", 2) != a {
		t.Fatal("joins of one id gave different rooms")
	}
	b := f.join("b", 3)
	if f.reg.Len() != 2 || f.reg.Get("a") != a || f.reg.Get("b") != b || f.reg.Get("c") != nil {
		t.Fatalf("registry: len %d", f.reg.Len())
	}
	if a.ID() != "a" || a.LocalCount() != 3 || b.LocalCount() != 1 {
		t.Fatalf("counts %d %d", a.LocalCount(), b.LocalCount())
	}
	// Leaving from the middle keeps the others reachable (swap-delete
	// must move the last member's index).
	if !f.leave(a, 1) {
		t.Fatal("leave failed")
	}
	if f.leave(a, 1) || f.leave(a, 3) {
		t.Fatal("a non-member left")
	}
	if got := fmt.Sprint(f.rooms(0), f.rooms(1), f.rooms(2)); got != "[a] [] [a]" {
		t.Fatalf("sets %s, want [a] [] [a]", got)
	}
	f.checkIndex(t)
	f.reg.Fanout("a", 0, eventloop.TextFrame([]byte("after")), nil)
	if read(t, f.clients[0]) != "after" || read(t, f.clients[2]) != "after" {
		t.Fatal("members lost after a leave")
	}
	f.leave(a, 0)
	f.leave(a, 2)
	if f.reg.Get("a") != nil || f.reg.Len() != 1 || a.LocalCount() != 0 {
		t.Fatal("empty room not freed")
	}
	if f.reg.Fanout("a", 0, eventloop.TextFrame([]byte("x")), nil) {
		t.Fatal("fan-out to a freed room")
	}
	// A freed id can be joined again: a new room.
	if a2 := f.join("a", 0); a2 == a || f.reg.Get("a") != a2 {
		t.Fatal("re-created room is the old one")
	}
}

// Fan-out reaches every member on every loop, except the excluded one, in
// the order of the calls, and nobody in another room.
func TestFanoutAcrossLoops(t *testing.T) {
	const n = 40
	f := newFixture(t, n+1)
	loops := map[int]bool{}
	for i := 0; i < n; i++ {
		f.join("big", i)
		loops[f.conns[i].Loop()] = true
	}
	f.join("other", n)
	if len(loops) != 2 {
		t.Fatalf("members on %d loops, want 2", len(loops))
	}
	const frames = 20
	for k := 0; k < frames; k++ {
		f.reg.Fanout("big", 0, eventloop.TextFrame([]byte(fmt.Sprint(k))), f.conns[0])
	}
	f.reg.Fanout("other", 0, eventloop.TextFrame([]byte("other")), nil)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < frames; k++ {
				if got := read(t, f.clients[i]); got != fmt.Sprint(k) {
					t.Errorf("member %d: got %q want %d", i, got, k)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := read(t, f.clients[n]); got != "other" {
		t.Fatalf("other room got %q", got)
	}
	// The excluded member got nothing: its first message is a later one.
	f.reg.Fanout("big", 0, eventloop.TextFrame([]byte("to all")), nil)
	if got := read(t, f.clients[0]); got != "to all" {
		t.Fatalf("excluded member got %q", got)
	}
}

// Joins and leaves from many loops at once keep counts and the registry
// consistent.
func TestConcurrentChurn(t *testing.T) {
	const n = 50
	f := newFixture(t, n)
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		rs := make([]*rooms.Room, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); rs[i] = f.join(fmt.Sprintf("r%d", i%3), i) }()
		}
		wg.Wait()
		total := 0
		for _, id := range []string{"r0", "r1", "r2"} {
			total += f.reg.Get(id).LocalCount()
		}
		if total != n || f.reg.Len() != 3 {
			t.Fatalf("round %d: %d members in %d rooms", round, total, f.reg.Len())
		}
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if !f.leave(rs[i], i) {
					t.Errorf("leave %d failed", i)
				}
			}()
		}
		wg.Wait()
		if f.reg.Len() != 0 {
			t.Fatalf("round %d: %d rooms left", round, f.reg.Len())
		}
	}
}

// BenchmarkRoomFanout1000 measures one frame to a 1000-member room over real
// loopback connections: the transport's per-loop tasks, the coalesced
// writes, and the clients reading (all on this machine's cores).
func BenchmarkRoomFanout1000(b *testing.B) {
	const members = 1000
	f := newFixture(b, members)
	for i := 0; i < members; i++ {
		f.join("bench", i)
	}
	frame := eventloop.TextFrame([]byte(`{"type":"message","content":"hello","username":"u","userId":"abcdefghij","timestamp":"2026-11-26T19:41:01.978Z"}`))
	var wg sync.WaitGroup
	start := make(chan int)
	for _, ws := range f.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := <-start
			nc := ws.UnderlyingConn().(*net.TCPConn)
			want := n * len(frame)
			got := 0
			p := make([]byte, 64<<10)
			for got < want {
				k, err := nc.Read(p)
				if err != nil {
					b.Error(err)
					return
				}
				got += k
			}
		}()
	}
	b.ResetTimer()
	for range f.clients {
		start <- b.N
	}
	for i := 0; i < b.N; i++ {
		f.reg.Fanout("bench", 0, frame, nil)
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*members), "ns/delivery")
}

// A connection can be in many rooms at once, each membership left on its
// own, and a room's classes are fanned out to separately.
func TestManyRoomsAndClasses(t *testing.T) {
	f := newFixture(t, 3)
	for _, room := range []string{"r1", "r2", "r3"} {
		f.join(room, 0)
	}
	f.joinClass("r1", 1, 1)
	f.joinClass("r2", 2, 1)
	r1 := f.reg.Get("r1")
	if !r1.HasClass(0) || !r1.HasClass(1) || f.reg.Get("r3").HasClass(1) || f.reg.Len() != 3 {
		t.Fatal("classes not tracked")
	}
	f.reg.Fanout("r1", 1, eventloop.TextFrame([]byte("class 1 of r1")), nil)
	f.reg.Fanout("r1", 0, eventloop.TextFrame([]byte("class 0 of r1")), nil)
	if got := read(t, f.clients[1]); got != "class 1 of r1" {
		t.Fatalf("class 1 member got %q", got)
	}
	if got := read(t, f.clients[0]); got != "class 0 of r1" {
		t.Fatalf("class 0 member got %q", got)
	}
	// Leaving one room keeps the others.
	f.leave(r1, 0)
	f.reg.Fanout("r2", 0, eventloop.TextFrame([]byte("r2")), nil)
	f.reg.Fanout("r3", 0, eventloop.TextFrame([]byte("r3")), nil)
	if a, b := read(t, f.clients[0]), read(t, f.clients[0]); a != "r2" || b != "r3" {
		t.Fatalf("got %q %q", a, b)
	}
	if r1.LocalCount() != 1 || !f.leave(r1, 1) || f.reg.Get("r1") != nil {
		t.Fatal("r1 not freed when its last member (of another class) left")
	}
}
