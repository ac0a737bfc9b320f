package eventloop_test

// Ping abuse (issue 15): raw clients that flood pings and never read, the
// ping budget, and one pong per run of pings.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
)

// dialNonReader opens a WebSocket whose receive buffer is tiny and which
// then never reads: whatever the server owes it piles up on the server.
func dialNonReader(t *testing.T, e *eventloop.Engine) *rawClient {
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

// flood writes unit over and over in 64 KiB writes until the server drops
// the connection or budget bytes are written, then reports whether the
// server dropped it: the writes may all fit in kernel buffers before the
// drop reaches the client, so it then reads (discarding) until the end.
func flood(t *testing.T, c *rawClient, unit []byte, budget int) bool {
	t.Helper()
	buf := bytes.Repeat(unit, (64<<10)/len(unit))
	for sent := 0; sent < budget; sent += len(buf) {
		_ = c.SetWriteDeadline(time.Now().Add(wait))
		if _, err := c.Write(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server stopped reading the flood: %v", err)
			}
			return true
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c.r)
	return err == nil || isClosedErr(err)
}

// sendBufMax is the most the kernel may hold in a socket's send buffer
// (tcp_wmem's maximum): bytes the server handed to the kernel but that no
// outbound limit of ours can see.
func sendBufMax(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	if err != nil {
		return 4 << 20
	}
	f := strings.Fields(string(b))
	n, err := strconv.Atoi(f[len(f)-1])
	if err != nil {
		t.Fatalf("tcp_wmem %q: %v", b, err)
	}
	return n
}

// TestPingFloodNonReader: a client that floods pings and never reads is
// closed after a bounded number of bytes queued for it, whichever limit
// catches it first; a client beside it keeps working.
func TestPingFloodNonReader(t *testing.T) {
	const maxOut = 64 << 10
	bound := maxOut + sendBufMax(t) + 64<<10 // the cap, the kernel's buffer, the good client and slack
	for _, tc := range []struct {
		name string
		mod  func(*eventloop.Config)
		// unit is what the flooder repeats. A ping and an unsolicited pong
		// make each ping a run of its own, so that each gets its own 127-byte
		// pong: the largest amplification a peer can get.
		unit      []byte
		abuse     int64 // PingAbuseCloses expected
		slow      int64 // SlowConsumers expected
		maxQueued int   // BytesOut allowed during the flood
	}{
		{"ping budget (defaults)", nil, frame(9, []byte("twelve bytes")), 1, 0, 4 << 10},
		{"outbound limit counts pongs", func(c *eventloop.Config) { c.PingRate = -1 },
			append(frame(9, bytes.Repeat([]byte("p"), 125)), frame(0xA, nil)...), 0, 1, bound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := framingEngine(t, func(c *eventloop.Config) {
				c.MaxOutboundBytes = maxOut
				if tc.mod != nil {
					tc.mod(c)
				}
			})
			good := dialWS(t, e)
			attacker := dialNonReader(t, e)
			before := e.Stats().BytesOut
			// Without the limits every ping is answered: the flood would queue
			// at least twice the bound.
			budget := 2 * bound / 127 * len(tc.unit)
			if !flood(t, attacker, tc.unit, budget) {
				t.Fatalf("the server took %d bytes of pings without closing the connection", budget)
			}
			waitFor(t, "the close to be counted", func() bool {
				st := e.Stats()
				return st.PingAbuseCloses == tc.abuse && st.SlowConsumers == tc.slow && st.Conns == 1
			})
			if queued := int(e.Stats().BytesOut - before); queued > tc.maxQueued {
				t.Fatalf("%d bytes queued for the flooder, want at most %d", queued, tc.maxQueued)
			}
			good.send(frame(1, []byte("still here")))
			good.expectMessage(1, []byte("still here"))
		})
	}
}

// TestPingRateLimit: a connection may send PingBurst pings at once; one
// more closes it with 1008, counted.
func TestPingRateLimit(t *testing.T) {
	slow := func(burst int) func(*eventloop.Config) {
		return func(c *eventloop.Config) { c.PingRate, c.PingBurst = 1e-9, burst } // no refill during the test
	}
	for _, tc := range []struct {
		name  string
		mod   func(*eventloop.Config)
		pings int
		close bool
	}{
		{"burst of 5", slow(5), 5, false},
		{"one over 5", slow(5), 6, true},
		{"burst of 1", slow(1), 1, false},
		{"one over 1", slow(1), 2, true},
		// The defaults: a sweep could give pings back only between two reads
		// of one 126-byte write, which loopback delivers in one piece.
		{"default burst", nil, eventloop.DefaultPingBurst, false},
		{"one over the default burst", nil, eventloop.DefaultPingBurst + 1, true},
		{"no limit", func(c *eventloop.Config) { c.PingRate = -1 }, 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, h := framingEngine(t, tc.mod)
			c := dialWS(t, e)
			recvOpen(t, h.openCh)
			var wire []byte
			for i := range tc.pings {
				wire = append(wire, frame(9, []byte(itoa(i)))...)
			}
			c.send(append(wire, frame(1, []byte("after"))...))
			pongs := 0
			for {
				f := c.next()
				if f.op == 0xA {
					pongs++
					continue
				}
				if tc.close {
					if f.op != 8 || f.closeCode() != 1008 {
						t.Fatalf("got %v, want close 1008", f)
					}
					c.expectEOF()
					waitFor(t, "PingAbuseCloses", func() bool { return e.Stats().PingAbuseCloses == 1 })
					if got := recvCode(t, h.closeCh); got != eventloop.ClosePolicy {
						t.Fatalf("Handler.Close(%d), want 1008", got)
					}
					return
				}
				if f.op != 1 || string(f.payload) != "after" {
					t.Fatalf("got %v, want the echo", f)
				}
				break
			}
			if pongs == 0 {
				t.Fatal("no pong")
			}
			if n := e.Stats().PingAbuseCloses; n != 0 {
				t.Fatalf("PingAbuseCloses = %d", n)
			}
		})
	}
}

// TestPongCoalescing: a run of pings read together is answered by one pong,
// for its last ping; a frame between pings ends a run, and replies keep the
// order of what they answer.
func TestPongCoalescing(t *testing.T) {
	e, _ := framingEngine(t, func(c *eventloop.Config) { c.PingRate = -1 })
	c := dialWS(t, e)
	ping := func(s string) []byte { return frame(9, []byte(s)) }
	c.send(bytes.Join([][]byte{ping("a0"), ping("a1"), ping("a2"), ping("a3"), frame(1, []byte("mid")),
		ping("b0"), ping("b1"), ping("b2"), frame(1, []byte("end"))}, nil))
	var got []string
	for len(got) == 0 || got[len(got)-1] != "end" {
		got = append(got, string(c.next().payload))
	}
	// One write arrives in one read on loopback: a0..a2 and b0..b1 go
	// unanswered. (Were the write split, a run would be answered once per
	// piece, still ending with its last ping.)
	if want := []string{"a3", "mid", "b2", "end"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %q, want %q", got, want)
	}
}
