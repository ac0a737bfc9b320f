package eventloop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/gorilla/websocket"
)

// collectOpen waits for n Open callbacks.
func collectOpen(t testing.TB, h *echoHandler, n int) []*eventloop.Conn {
	t.Helper()
	conns := make([]*eventloop.Conn, 0, n)
	for range n {
		conns = append(conns, recvOpen(t, h.openCh))
	}
	return conns
}

// TestSlowConsumer: a client that never reads, receiving a fan-out flood
// alongside a client that does, is closed with 4008 and counted; the heap
// never holds much more than MaxOutboundBytes for it; the reading client
// gets every frame, intact and in order.
func TestSlowConsumer(t *testing.T) {
	const (
		maxOut    = 1 << 20
		frameSize = 16 << 10
		batch     = 16
		batches   = 200 // 50 MiB in all: far beyond kernel buffers plus the cap
	)
	h := newEchoHandler()
	e := startEngine(t, h, func(c *eventloop.Config) { c.MaxOutboundBytes = maxOut })

	// The slow client: a small receive buffer, and it never reads after the
	// handshake.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	sc, err := d.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	slow := &rawClient{t: t, Conn: sc, r: bufio.NewReader(sc)}
	slow.send([]byte(upgradeRequest()))
	slow.expect101()
	slowConn := recvOpen(t, h.openCh)
	fast := dialWS(t, e)
	fastConn := recvOpen(t, h.openCh)
	set := e.NewConnSet([]*eventloop.Conn{slowConn, fastConn})

	// The reader: one reused buffer, so the test's own garbage does not
	// blur the heap measurement.
	got := make(chan int, batches*batch)
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 4+frameSize)
		for i := range batches * batch {
			_ = fast.SetReadDeadline(time.Now().Add(wait))
			if _, err := io.ReadFull(fast.r, buf); err != nil {
				readErr <- err
				return
			}
			if buf[0] != 0x82 || buf[1] != 126 || binary.BigEndian.Uint16(buf[2:]) != frameSize ||
				binary.BigEndian.Uint32(buf[4:]) != uint32(i) {
				readErr <- fmt.Errorf("frame %d: bad header or sequence % x", i, buf[:8])
				return
			}
			got <- i
		}
	}()

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	// Every frame is new (a frame must not change once handed to Fanout,
	// and the slow connection's loop may still be writing an old one) and
	// stays referenced, so the test makes no garbage; the heap growth
	// measured below is net of these frames.
	var frames [][]byte
	framesBytes := func() int64 { return int64(len(frames) * (4 + frameSize)) }
	closedAt := -1
	for b := 0; b < batches; b++ {
		for i := range batch {
			f := eventloop.AppendFrame(make([]byte, 0, 4+frameSize), wsOp(2), make([]byte, frameSize))
			binary.BigEndian.PutUint32(f[4:], uint32(b*batch+i))
			frames = append(frames, f)
			e.Fanout(f, set, nil)
		}
		for range batch {
			select {
			case <-got:
			case err := <-readErr:
				t.Fatalf("reading client: %v", err)
			case <-time.After(wait):
				t.Fatal("reading client stalled")
			}
		}
		runtime.ReadMemStats(&ms)
		peak = max(peak, uint64(int64(ms.HeapInuse)-framesBytes()))
		if closedAt < 0 {
			select {
			case code := <-h.closeCh:
				if code != eventloop.CloseSlowConsumer {
					t.Fatalf("Handler.Close(%d), want 4008", code)
				}
				closedAt = b
			default:
			}
		} else if b > closedAt+10 {
			break // the reader kept going after the slow one was dropped
		}
	}
	if closedAt < 0 {
		t.Fatalf("slow consumer not closed after %d MiB", batches*batch*frameSize>>20)
	}
	if n := e.Stats().SlowConsumers; n != 1 {
		t.Fatalf("SlowConsumers = %d, want 1", n)
	}
	// gnet copies queued bytes into pooled buffers rounded up to a power of
	// two (a 16 KiB frame takes 32 KiB), so the slow connection's queue
	// costs up to twice MaxOutboundBytes; without the cap it would be tens
	// of MiB.
	if grew := int64(peak) - int64(base); grew > 2*maxOut+4<<20 {
		t.Fatalf("heap grew by %d KiB while the slow consumer was open (cap %d KiB)", grew>>10, maxOut>>10)
	}
	t.Logf("closed after %d MiB; heap peak +%d KiB", (closedAt+1)*batch*frameSize>>20, (int64(peak)-int64(base))>>10)
	// The slow client's TCP is gone: reading drains what the kernel held,
	// then ends.
	_ = sc.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.Copy(io.Discard, sc); err != nil && !isClosedErr(err) {
		t.Fatalf("slow client: %v, want EOF", err)
	}
}

// TestIdleTimeout: a peer that sends half a frame and goes silent is pinged,
// then closed with 1001 and dropped; a quiet peer that answers pings stays.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	const (
		ping = 100 * time.Millisecond
		idle = 300 * time.Millisecond
	)
	h := newEchoHandler()
	e := startEngine(t, h, func(c *eventloop.Config) {
		c.PingInterval, c.IdleTimeout, c.CloseTimeout = ping, idle, 100*time.Millisecond
	})

	// The responsive peer: gorilla answers pings while it reads.
	ws := dial(t, e)
	pings := make(chan string, 100)
	ws.SetPingHandler(func(p string) error {
		pings <- p
		return ws.WriteControl(websocket.PongMessage, []byte(p), time.Now().Add(time.Second))
	})
	readDone := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				readDone <- err
				return
			}
		}
	}()
	recvOpen(t, h.openCh)

	// The silent peer: half a frame header, then nothing.
	start := time.Now()
	c := dialWS(t, e)
	recvOpen(t, h.openCh)
	c.send(frame(1, []byte("hello"))[:3])
	sawPing := false
	for {
		f := c.next()
		if f.op == 9 {
			sawPing = true
			continue
		}
		if f.op != 8 || f.closeCode() != 1001 {
			t.Fatalf("got %v, want close 1001", f)
		}
		break
	}
	if el := time.Since(start); el < idle-idle/4 || el > idle+1500*time.Millisecond {
		t.Errorf("idle close after %v, want about %v", el, idle)
	}
	if !sawPing {
		t.Error("no ping before the idle close")
	}
	c.expectEOF() // CloseTimeout: it will not answer
	if code := recvCode(t, h.closeCh); code != eventloop.CloseGoingAway {
		t.Fatalf("Handler.Close(%d), want 1001", code)
	}
	if n := e.Stats().IdleCloses; n != 1 {
		t.Fatalf("IdleCloses = %d, want 1", n)
	}

	// The responsive peer has by now been quiet well past the idle timeout,
	// answering only pings; it is pinged repeatedly and still open.
	for i := 0; i < 5; i++ {
		select {
		case <-pings:
		case err := <-readDone:
			t.Fatalf("responsive peer closed: %v", err)
		case <-time.After(wait):
			t.Fatal("no ping")
		}
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readDone:
		t.Fatalf("responsive peer closed: %v", err)
	case code := <-h.closeCh:
		t.Fatalf("responsive peer closed with %d", code)
	default:
	}
}

// TestFanoutThousands: frames sent from another goroutine, alternately by
// Engine.Fanout to a ConnSet and by Conn.Send to each connection, reach
// every one of thousands of connections intact and in order.
func TestFanoutThousands(t *testing.T) {
	clients, frames := 2000, 50 // 4000 file descriptors in this process
	if eventloop.RaceEnabled || testing.Short() {
		clients = 300
	}
	h := newEchoHandler()
	e := startEngine(t, h, nil)
	cs := dialMany(t, e, clients)
	conns := collectOpen(t, h, clients)
	set := e.NewConnSet(conns)
	wire := make([][]byte, frames)
	for i := range wire {
		wire[i] = eventloop.TextFrame(fmt.Appendf(nil, "frame %03d %s", i, bytes.Repeat([]byte{'a' + byte(i%26)}, i*7)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i, c := range cs {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(2 * wait))
			for j, w := range wire {
				buf := make([]byte, len(w))
				if _, err := io.ReadFull(c.r, buf); err != nil {
					errs <- fmt.Errorf("client %d frame %d: %v", i, j, err)
					return
				}
				if !bytes.Equal(buf, w) {
					errs <- fmt.Errorf("client %d frame %d: got %.20q, want %.20q", i, j, buf, w)
					return
				}
			}
		})
	}
	go func() {
		for i, w := range wire {
			if i%2 == 0 {
				e.Fanout(w, set, nil)
			} else {
				for _, c := range conns {
					c.Send(w)
				}
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := int64(clients * (frames + 1)) // +1: the 101
	waitFor(t, "FramesOut", func() bool { return e.Stats().FramesOut >= want })
	st := e.Stats()
	if st.FramesOut != want {
		t.Errorf("FramesOut = %d, want %d", st.FramesOut, want)
	}
	if st.SlowConsumers != 0 {
		t.Errorf("SlowConsumers = %d", st.SlowConsumers)
	}
	t.Logf("%d clients × %d frames: %d write calls, %.1f frames per call", clients, frames,
		st.WriteCalls, float64(st.FramesOut)/float64(st.WriteCalls))
}

// TestFanoutExcludeAndExec: Fanout skips the excluded connection; Conn.Exec
// runs on the connection's loop in order with Sends.
func TestFanoutExcludeAndExec(t *testing.T) {
	h := newEchoHandler()
	e := startEngine(t, h, nil)
	a, b := dialWS(t, e), dialWS(t, e)
	ca, cb := recvOpen(t, h.openCh), recvOpen(t, h.openCh)
	set := e.NewConnSet([]*eventloop.Conn{ca, cb})
	e.Fanout(eventloop.TextFrame([]byte("to b only")), set, ca)
	e.Fanout(eventloop.TextFrame([]byte("to both")), set, nil)
	ca.Send(eventloop.TextFrame([]byte("send")))
	done := make(chan int, 1)
	ca.Exec(func() {
		_ = ca.Write(eventloop.TextFrame([]byte("exec")))
		done <- ca.Loop()
	})
	b.expectMessage(1, []byte("to b only"))
	b.expectMessage(1, []byte("to both"))
	a.expectMessage(1, []byte("to both"))
	a.expectMessage(1, []byte("send"))
	a.expectMessage(1, []byte("exec"))
	if l := <-done; l < 0 || l >= e.NumLoops() {
		t.Fatalf("Loop() = %d", l)
	}
}

// TestShutdown: open clients receive close 1001 and Shutdown returns, both
// for clients that answer the close and for one that does not (dropped
// after CloseTimeout); half-open handshakes are dropped; new connections are
// refused; every opened connection gets exactly one Handler.Close.
func TestShutdown(t *testing.T) {
	h := newEchoHandler()
	e, err := eventloop.Start(eventloop.Config{Addr: "127.0.0.1:0", Loops: 2, Handler: h,
		CloseTimeout: 200 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var gs []*websocket.Conn
	res := make(chan error, 8)
	for range 4 {
		ws := dial(t, e)
		gs = append(gs, ws)
		go func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					res <- err
					return
				}
			}
		}()
	}
	silent := dialWS(t, e)
	half := dialTCP(t, e)
	half.send([]byte("GET / HTTP/1.1\r\n"))
	collectOpen(t, h, 5)

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Shutdown took %v", el)
	}
	for range gs {
		err := <-res
		if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 1001 {
			t.Errorf("gorilla client: %v, want close 1001", err)
		}
	}
	silent.expectClose(1001)
	half.expectEOF()
	closes := 0
	for range 5 {
		if code := recvCode(t, h.closeCh); code != eventloop.CloseGoingAway {
			t.Errorf("Handler.Close(%d), want 1001", code)
		}
		closes++
	}
	select {
	case code := <-h.closeCh:
		t.Errorf("extra Handler.Close(%d)", code)
	default:
	}
	if _, err := net.DialTimeout("tcp", e.Addr(), time.Second); err == nil {
		t.Error("listener still accepts after Shutdown")
	}
	if err := e.Shutdown(ctx); err != nil { // idempotent
		t.Errorf("second Shutdown: %v", err)
	}
}

// TestStats: the counters move as traffic goes by.
func TestStats(t *testing.T) {
	h := newEchoHandler()
	e := startEngine(t, h, nil)
	if st := e.Stats(); st.Conns != 0 || st.Accepted != 0 || len(st.LoopConns) != 2 {
		t.Fatalf("fresh engine: %+v", st)
	}
	// One frame out per turn of the loop (each waited for before the next
	// request), so that every frame is its own write call.
	c := dialWS(t, e)
	c.send(frame(1, []byte("one")))
	c.expectMessage(1, []byte("one"))
	c.send(frame(2, []byte("two")))
	c.expectMessage(2, []byte("two"))
	get := dialTCP(t, e)
	get.send([]byte("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"))
	if resp, _ := get.response(); resp.StatusCode != 200 {
		t.Fatalf("GET /hello: %s", resp.Status)
	}
	get.expectEOF()
	bad := dialTCP(t, e)
	bad.send([]byte("BAD\r\n\r\n"))
	bad.response()
	bad.expectEOF()
	pe := dialWS(t, e)
	pe.send(cframe{op: 1, unmasked: true}.bytes())
	pe.expectClose(1002) // and TCP closed at once: pe is gone from the counters below
	// Output counters move just after the write(2) that the client may
	// already have read from: wait for the last one.
	waitFor(t, "FramesOut", func() bool { return e.Stats().FramesOut >= 7 })
	st := e.Stats()
	head := len(upgradeRequest())
	for _, x := range []struct {
		name      string
		got, want int64
	}{
		{"Accepted", st.Accepted, 4},
		{"Conns", st.Conns, 1}, // c
		{"LoopConns sum", st.LoopConns[0] + st.LoopConns[1], 1},
		{"WebSockets", st.WebSockets, 1},
		{"Upgraded", st.Upgraded, 2},
		{"HTTPRequests", st.HTTPRequests, 1},
		{"HandshakeFailures[malformed]", st.HandshakeFailures[eventloop.HandshakeMalformed], 1},
		{"MessagesIn", st.MessagesIn, 2},
		{"ProtocolErrors", st.ProtocolErrors, 1},
		{"BytesIn", st.BytesIn, int64(2*head + 9 + 9 + len("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n") + len("BAD\r\n\r\n") + 2)},
		{"FramesOut", st.FramesOut, 2 + 2 + 1 + 1 + 1}, // 101s, echoes, HTTP 200, HTTP 400, close
		{"WriteCalls", st.WriteCalls, 7},               // each frame in a turn of its own
		{"BytesOut", st.BytesOut, c.received() + get.received() + bad.received() + pe.received()},
	} {
		if x.got != x.want {
			t.Errorf("%s = %d, want %d", x.name, x.got, x.want)
		}
	}
	c.send(frame(8, nil))
	c.expectClose(1005)
	recvCode(t, h.closeCh)
	if st := e.Stats(); st.WebSockets != 0 {
		t.Errorf("WebSockets after close = %d", st.WebSockets)
	}

	// BytesIn counts each byte once, however the reads split the stream: a
	// frame in the same write as the request head, a frame trickled byte by
	// byte, a head trickled byte by byte.
	for _, tc := range []struct {
		name  string
		wire  []byte
		chunk int
	}{
		{"head and frame in one write", append([]byte(upgradeRequest()), frame(1, []byte("together"))...), 0},
		{"all byte by byte", append([]byte(upgradeRequest()), frame(1, []byte("trickled"))...), 1},
	} {
		before := e.Stats().BytesIn
		c := dialTCP(t, e)
		feed(c, tc.wire, tc.chunk, 0)
		c.expect101()
		c.nextData()
		c.send(frame(1, []byte("x"))[:4]) // half a frame, read by the server but not complete
		c.send(frame(1, []byte("x"))[4:])
		c.nextData()
		if got, want := e.Stats().BytesIn-before, int64(len(tc.wire)+len(frame(1, []byte("x")))); got != want {
			t.Errorf("%s: BytesIn moved by %d, want %d", tc.name, got, want)
		}
	}
}
