package eventloop_test

// The node-wide budget for queued outbound bytes (Config.MaxNodeOutboundBytes,
// issue 24 item 5) over real sockets.

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
)

// budgetHandler records which connections closed, with what code.
type budgetHandler struct {
	*echoHandler
	mu     sync.Mutex
	closed map[*eventloop.Conn]eventloop.CloseCode
}

func (h *budgetHandler) Close(c *eventloop.Conn, code eventloop.CloseCode) {
	h.mu.Lock()
	h.closed[c] = code
	h.mu.Unlock()
	h.echoHandler.Close(c, code)
}

func (h *budgetHandler) closeCode(c *eventloop.Conn) (eventloop.CloseCode, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	code, ok := h.closed[c]
	return code, ok
}

// syncBuffer is a log sink the loops may write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dialStalled upgrades a connection that will never read again, with a
// small receive buffer so that what the server sends stays in its queue.
func dialStalled(t *testing.T, e *eventloop.Engine) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: wait, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	nc, err := d.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{t: t, Conn: nc, r: bufio.NewReader(nc)}
	c.send([]byte(upgradeRequest()))
	c.expect101()
	return c
}

// TestOutboundBudget: connections that stopped reading, each under its own
// MaxOutboundBytes but together over the node's budget, are closed largest
// first (4008, counted, logged at debug), whichever loop holds them, until
// the node's queues fit; the connections that read are untouched, though
// they received more than any.
func TestOutboundBudget(t *testing.T) {
	const (
		K      = 1 << 10
		frameN = 16 * K
		budget = 1728 * K
	)
	h := &budgetHandler{echoHandler: newEchoHandler(), closed: map[*eventloop.Conn]eventloop.CloseCode{}}
	logs := &syncBuffer{}
	e := startEngine(t, h, func(c *eventloop.Config) {
		c.Loops = 2
		c.MaxNodeOutboundBytes = budget
		c.CloseTimeout = 100 * time.Millisecond // ticks every 25 ms
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})

	// Three stalled clients per loop, and a reader per loop.
	stalled := map[int][]*eventloop.Conn{}
	readers := map[int]*eventloop.Conn{}
	readerClients := map[int]*rawClient{}
	for tries := 0; len(stalled[0]) < 3 || len(stalled[1]) < 3 || len(readers) < 2; tries++ {
		if tries == 200 {
			t.Fatal("the connections do not spread over both loops")
		}
		if len(readers) < 2 {
			c := dialWS(t, e)
			conn := recvOpen(t, h.openCh)
			if readers[conn.Loop()] == nil {
				readers[conn.Loop()], readerClients[conn.Loop()] = conn, c
			}
			continue
		}
		dialStalled(t, e)
		conn := recvOpen(t, h.openCh)
		if len(stalled[conn.Loop()]) < 3 {
			stalled[conn.Loop()] = append(stalled[conn.Loop()], conn)
		}
	}

	frame := eventloop.AppendFrame(nil, wsOp(2), make([]byte, frameN-4))
	// write queues frames to conns of one loop, all in one turn, and
	// returns what each has queued after it.
	write := func(frames map[*eventloop.Conn]int) map[*eventloop.Conn]int64 {
		var on *eventloop.Conn
		for c := range frames {
			on = c
		}
		queued := map[*eventloop.Conn]int64{}
		done := make(chan struct{})
		on.Exec(func() {
			for c, n := range frames {
				for range n {
					_ = c.Write(frame)
				}
			}
			on.Exec(func() { // the next turn, once these are flushed
				for c := range frames {
					queued[c] = c.QueuedForTest()
				}
				close(done)
			})
		})
		<-done
		return queued
	}
	// Readers get 2 MiB each, more than any stalled queue, 256 KiB at a
	// time, and read it.
	readAll := func() {
		for i, r := range readers {
			for range 8 {
				write(map[*eventloop.Conn]int{r: 16})
				_ = readerClients[i].SetReadDeadline(time.Now().Add(wait))
				if _, err := io.CopyN(io.Discard, readerClients[i].r, 16*frameN); err != nil {
					t.Fatalf("reader on loop %d: %v", i, err)
				}
			}
		}
	}
	readAll()

	// Fill the kernel's buffers of the stalled connections (loopback's
	// grow to megabytes), so that what follows stays in the server's
	// queues: at most a frame of each is queued after this.
	for _, c := range slices.Concat(stalled[0], stalled[1]) {
		for i := 0; write(map[*eventloop.Conn]int{c: 4})[c] == 0; i++ {
			if i == 1000 {
				t.Fatal("the kernel takes 64 MiB for a client that does not read")
			}
		}
	}
	if st := e.Stats(); st.BudgetCloses != 0 {
		t.Fatalf("BudgetCloses = %d before the queues grew", st.BudgetCloses)
	}

	// Queue sizes in frames: loop 0 holds 768, 64 and 32 KiB; loop 1 704
	// KiB first (1,568 KiB in all, under the budget), then 512 and 448 KiB
	// in one turn: 2,528 KiB, 800 over. The two largest, one on each loop,
	// add up to that: they go, and the other four stay.
	size := map[*eventloop.Conn]int{}
	for i, n := range []int{48, 4, 2} {
		size[stalled[0][i]] = n
	}
	for i, n := range []int{44, 32, 28} {
		size[stalled[1][i]] = n
	}
	write(map[*eventloop.Conn]int{stalled[0][0]: 48, stalled[0][1]: 4, stalled[0][2]: 2})
	write(map[*eventloop.Conn]int{stalled[1][0]: 44})
	if st := e.Stats(); st.BudgetCloses != 0 {
		t.Fatalf("BudgetCloses = %d under the budget", st.BudgetCloses)
	}
	write(map[*eventloop.Conn]int{stalled[1][1]: 32, stalled[1][2]: 28})

	waitFor(t, "the budget closes", func() bool { return e.Stats().BudgetCloses == 2 })
	for c, n := range size {
		code, closed := h.closeCode(c)
		if n < 44 {
			if closed {
				t.Errorf("queue of %d KiB closed, not one of the two largest", n*frameN/K)
			}
			continue
		}
		waitFor(t, "Handler.Close", func() bool { code, closed = h.closeCode(c); return closed })
		if code != eventloop.CloseSlowConsumer {
			t.Errorf("queue of %d KiB closed with %d, want 4008", n*frameN/K, code)
		}
	}
	st := e.Stats()
	if st.SlowConsumers != 0 || st.QueuedBytes > budget {
		t.Fatalf("SlowConsumers %d (no queue reached its own limit), QueuedBytes %d (budget %d)", st.SlowConsumers, st.QueuedBytes, budget)
	}
	if !bytes.Contains([]byte(logs.String()), []byte("node over its outbound budget")) {
		t.Fatal("budget closes not logged at debug")
	}
	// The readers are untouched: still open, still reading.
	for i := range readers {
		if _, closed := h.closeCode(readers[i]); closed {
			t.Fatalf("reader on loop %d closed", i)
		}
	}
	readAll()
	if st := e.Stats(); st.BudgetCloses != 2 {
		t.Fatalf("BudgetCloses = %d after the readers' second round, want 2", st.BudgetCloses)
	}
}
