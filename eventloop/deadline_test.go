package eventloop_test

// Conn.SetDeadline over real sockets: a deadline nothing extends (issue 24
// item 1, the transport's half of the v2 hello deadline).

import (
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
)

// deadlineHandler sets a deadline on every connection as it opens; the
// message "hello" clears it. Everything else is echoed.
type deadlineHandler struct {
	*echoHandler
	d      time.Duration
	mu     sync.Mutex
	opened map[*eventloop.Conn]time.Time
	closed map[*eventloop.Conn]time.Time
}

func newDeadlineHandler(d time.Duration) *deadlineHandler {
	return &deadlineHandler{echoHandler: newEchoHandler(), d: d,
		opened: map[*eventloop.Conn]time.Time{}, closed: map[*eventloop.Conn]time.Time{}}
}

func (h *deadlineHandler) Open(c *eventloop.Conn) {
	c.SetDeadline(h.d, eventloop.CloseSessionTimeout, "no hello")
	h.mu.Lock()
	h.opened[c] = time.Now()
	h.mu.Unlock()
	h.echoHandler.Open(c)
}

func (h *deadlineHandler) Message(c *eventloop.Conn, p []byte, binary bool) {
	if string(p) == "hello" {
		c.ClearDeadline()
	}
	h.echoHandler.Message(c, p, binary)
}

func (h *deadlineHandler) Close(c *eventloop.Conn, code eventloop.CloseCode) {
	h.mu.Lock()
	h.closed[c] = time.Now()
	h.mu.Unlock()
	h.echoHandler.Close(c, code)
}

// lifetime is how long the server kept c open, Open to Close.
func (h *deadlineHandler) lifetime(c *eventloop.Conn) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed[c].Sub(h.opened[c])
}

func startDeadlineEngine(t *testing.T, d time.Duration) (*eventloop.Engine, *deadlineHandler) {
	t.Helper()
	h := newDeadlineHandler(d)
	e := startEngine(t, h, func(c *eventloop.Config) {
		c.Loops = 1                            // one sweep sees every deadline
		c.PingInterval = 40 * time.Millisecond // the server pings, the client answers; ticks every 10 ms
		c.CloseTimeout = 100 * time.Millisecond
		c.IdleTimeout = 2 * time.Second // past every deadline here: a deadline that never fires fails fast
	})
	return e, h
}

// TestConnDeadline: a connection with a deadline is closed at it whatever it
// sends (pongs to the server's pings, pings of its own, messages); one whose
// deadline was cleared stays open; connections closed before their deadline
// leave nothing behind.
func TestConnDeadline(t *testing.T) {
	t.Run("traffic does not extend it", func(t *testing.T) {
		const d = 600 * time.Millisecond
		e, h := startDeadlineEngine(t, d)
		c := dialWS(t, e)
		conn := recvOpen(t, h.openCh)

		type result struct {
			pongs, echoes int
			close         sframe
			err           error
		}
		done := make(chan result, 1)
		pinged := make(chan struct{}) // closed once two server pings were answered
		// The reader answers every ping, counts echoes, stops at the close frame.
		go func() {
			var r result
			_ = c.SetReadDeadline(time.Now().Add(wait))
			for {
				f, err := readServerFrame(c.r)
				switch {
				case err != nil:
					r.err = err
				case f.op == 9:
					_, r.err = c.Write(frame(0xA, f.payload))
					r.pongs++
					if r.pongs == 2 {
						close(pinged)
					}
					continue
				case f.op == 1:
					r.echoes++
					continue
				case f.op == 10: // the pong to the client's own ping
					continue
				default:
					r.close = f
				}
				done <- r
				return
			}
		}()
		var r result
		// First quiet, so that the server's pings and the client's pongs are all the connection
		// has (an event, not a time: on a loaded machine 300 ms of timers may take the whole
		// deadline); then messages and pings of its own as well.
		select {
		case r = <-done:
			t.Fatalf("closed before two pings were answered: %+v", r)
		case <-pinged:
		}
	traffic:
		for i := 0; ; i++ {
			select {
			case r = <-done:
				break traffic
			case <-time.After(20 * time.Millisecond):
			}
			msg := frame(1, []byte("not hello"))
			if i%5 == 4 {
				msg = frame(9, []byte("client ping")) // 10/s: within the ping budget
			}
			if _, err := c.Write(msg); err != nil {
				t.Fatalf("write while open: %v", err)
			}
		}
		if r.err != nil {
			t.Fatalf("reading: %v (after %d pongs, %d echoes)", r.err, r.pongs, r.echoes)
		}
		if r.close.op != 8 || r.close.closeCode() != int(eventloop.CloseSessionTimeout) || string(r.close.payload[2:]) != "no hello" {
			t.Fatalf("got %v, want close %d \"no hello\"", r.close, eventloop.CloseSessionTimeout)
		}
		if r.pongs < 2 || r.echoes < 2 {
			t.Fatalf("the connection was not busy: %d pings answered, %d echoes", r.pongs, r.echoes)
		}
		c.Close()
		if code := recvCode(t, h.closeCh); code != eventloop.CloseSessionTimeout {
			t.Fatalf("Handler.Close got %d, want %d", code, eventloop.CloseSessionTimeout)
		}
		if life := h.lifetime(conn); life < d {
			t.Fatalf("closed %v after open, before its deadline of %v", life, d)
		}
		if st := e.Stats(); st.DeadlineCloses != 1 || st.Deadlines != 0 {
			t.Fatalf("DeadlineCloses %d, Deadlines %d; want 1 and 0", st.DeadlineCloses, st.Deadlines)
		}
	})

	t.Run("cleared", func(t *testing.T) {
		e, h := startDeadlineEngine(t, 300*time.Millisecond)
		cleared := dialWS(t, e)
		cleared.send(frame(1, []byte("hello")))
		cleared.expectMessage(1, []byte("hello")) // the deadline is cleared by now
		witness := dialWS(t, e)                   // same deadline, later, same loop
		witness.expectClose(int(eventloop.CloseSessionTimeout))
		// The sweep that closed the witness saw the cleared one's deadline
		// pass too.
		cleared.send(frame(1, []byte("still here")))
		cleared.expectMessage(1, []byte("still here"))
		if code := recvCode(t, h.closeCh); code != eventloop.CloseSessionTimeout {
			t.Fatalf("Handler.Close got %d, want %d", code, eventloop.CloseSessionTimeout)
		}
		if st := e.Stats(); st.DeadlineCloses != 1 || st.Deadlines != 0 || st.WebSockets != 1 {
			t.Fatalf("DeadlineCloses %d, Deadlines %d, WebSockets %d; want 1, 0, 1", st.DeadlineCloses, st.Deadlines, st.WebSockets)
		}
	})

	t.Run("closed before it", func(t *testing.T) {
		const n = 50
		e, h := startDeadlineEngine(t, time.Hour)
		cs := make([]*rawClient, n)
		for i := range cs {
			cs[i] = dialWS(t, e)
		}
		if st := e.Stats(); st.Deadlines != n {
			t.Fatalf("Deadlines = %d with %d connections open, want %d", st.Deadlines, n, n)
		}
		for i, c := range cs {
			if i%2 == 0 {
				c.send(frame(8, closePayload(1000, ""))) // a clean close
				c.expectClose(1000)
			}
			c.Close() // or TCP only
		}
		for range n {
			recvCode(t, h.closeCh)
		}
		if st := e.Stats(); st.Deadlines != 0 || st.DeadlineCloses != 0 {
			t.Fatalf("after every close: Deadlines %d, DeadlineCloses %d; want 0 and 0", st.Deadlines, st.DeadlineCloses)
		}
	})
}
