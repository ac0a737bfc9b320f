package eventloop_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chatd/chatd/eventloop"
)

// framingEngine is an echo engine with a short close timeout, so that tests
// of server-initiated closes see TCP go away quickly.
// onMsg, when given, replaces the echo (set before the engine starts, so
// the loops see it without a race).
func framingEngine(t *testing.T, mod func(*eventloop.Config), onMsg ...func(*eventloop.Conn, []byte, bool)) (*eventloop.Engine, *echoHandler) {
	t.Helper()
	h := newEchoHandler()
	if len(onMsg) > 0 {
		h.onMsg = onMsg[0]
	}
	e := startEngine(t, h, func(c *eventloop.Config) {
		c.CloseTimeout = 50 * time.Millisecond
		if mod != nil {
			mod(c)
		}
	})
	return e, h
}

// feed modes: how a byte stream is cut into writes.
var feedModes = []struct {
	name  string
	chunk int // 0: one write; else random chunks of 1..chunk bytes
}{{"whole", 0}, {"byte by byte", 1}, {"random chunks", 13}}

func feed(c *rawClient, b []byte, chunk int, seed uint64) {
	if chunk == 0 {
		c.send(b)
		return
	}
	c.sendChunked(b, rand.New(rand.NewPCG(seed, 7)), chunk)
}

// feedBad is feed for input the server refuses: the server closes TCP as
// soon as it has seen enough to refuse it, so writing the rest may fail
// (EPIPE, or a reset, since the server closed with input unread). What the
// server sent before closing is still there to read.
func feedBad(c *rawClient, b []byte, chunk int, seed uint64) {
	c.t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	_ = c.SetWriteDeadline(time.Now().Add(wait))
	for len(b) > 0 {
		k := len(b)
		if chunk > 0 {
			k = min(k, 1+rng.IntN(chunk))
		}
		if _, err := c.Write(b[:k]); err != nil {
			if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
				c.t.Fatalf("write: %v", err)
			}
			return
		}
		b = b[k:]
	}
}

// TestPayloadSizes echoes every length encoding boundary, as text and
// binary, fed whole, one byte at a time and in random chunks; it also checks
// that the server picks the minimal length encoding for its own frames.
func TestPayloadSizes(t *testing.T) {
	e, _ := framingEngine(t, nil)
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536} {
		for _, op := range []byte{1, 2} {
			payload := bytes.Repeat([]byte("abcdefghij"), n/10+1)[:n]
			wire := frame(op, payload)
			for mi, m := range feedModes {
				chunk := m.chunk
				if n > 1000 && chunk == 1 {
					chunk = 3 // one write per byte of 64 KiB costs too long for little gain
				}
				if n > 1000 && chunk > 0 {
					chunk *= 200
				}
				c := dialWS(t, e)
				feed(c, wire, chunk, uint64(n*10+mi))
				f := c.next()
				if !f.fin || f.op != op || !bytes.Equal(f.payload, payload) {
					t.Fatalf("n=%d op=%d %s: got %v", n, op, m.name, f)
				}
				c.Close()
			}
		}
	}
	// The server's length encoding, checked on raw bytes.
	for _, tc := range []struct {
		n    int
		head []byte
	}{{0, []byte{0x82, 0}}, {125, []byte{0x82, 125}}, {126, []byte{0x82, 126, 0, 126}},
		{65535, []byte{0x82, 126, 0xFF, 0xFF}}, {65536, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}}} {
		c := dialWS(t, e)
		c.send(frame(2, make([]byte, tc.n)))
		got := make([]byte, len(tc.head))
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if _, err := io.ReadFull(c.r, got); err != nil || !bytes.Equal(got, tc.head) {
			t.Fatalf("n=%d: header % x (%v), want % x", tc.n, got, err, tc.head)
		}
		c.Close()
	}
}

// TestManyFramesPerWrite: a hundred frames of mixed sizes in one write (and
// again cut at random) come back in order.
func TestManyFramesPerWrite(t *testing.T) {
	e, _ := framingEngine(t, nil)
	var wire []byte
	var want [][]byte
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100 {
		p := []byte(strings.Repeat(string(rune('a'+i%26)), rng.IntN(300)))
		want = append(want, p)
		wire = append(wire, frame(1, p)...)
		if i%10 == 0 {
			wire = append(wire, frame(9, []byte{byte(i)})...) // pings in between
		}
	}
	for mi, m := range feedModes {
		t.Run(m.name, func(t *testing.T) {
			c := dialWS(t, e)
			feed(c, wire, m.chunk*50, uint64(mi))
			pongs := 0
			for i := 0; i < len(want); {
				f := c.next()
				if f.op == 0xA {
					pongs++
					continue
				}
				if f.op != 1 || !bytes.Equal(f.payload, want[i]) {
					t.Fatalf("frame %d: got %v", i, f)
				}
				i++
			}
			if pongs != 10 {
				// The last pong may follow the last echo.
				if f := c.next(); f.op != 0xA || pongs != 9 {
					t.Fatalf("got %d pongs", pongs)
				}
			}
		})
	}
}

// TestProtocolErrors: every framing violation closes with its code, TCP is
// closed afterwards, the handler hears the same code once, and the counter
// moves.
func TestProtocolErrors(t *testing.T) {
	type tc struct {
		name string
		wire [][]byte // written one after the other; the close is expected after all
		code int
		echo string // a message expected before the close
	}
	cases := []tc{
		{"unmasked", [][]byte{cframe{op: 1, unmasked: true, payload: []byte("hi")}.bytes()}, 1002, ""},
		{"unmasked empty", [][]byte{cframe{op: 2, unmasked: true}.bytes()}, 1002, ""},
		{"rsv1", [][]byte{cframe{op: 1, rsv: 4, key: testKey, payload: []byte("x")}.bytes()}, 1002, ""},
		{"rsv2", [][]byte{cframe{op: 1, rsv: 2, key: testKey, payload: []byte("x")}.bytes()}, 1002, ""},
		{"rsv3", [][]byte{cframe{op: 1, rsv: 1, key: testKey, payload: []byte("x")}.bytes()}, 1002, ""},
		{"rsv on ping", [][]byte{cframe{op: 9, rsv: 7, key: testKey}.bytes()}, 1002, ""},
		{"ping 126 bytes", [][]byte{frame(9, make([]byte, 126))}, 1002, ""},
		{"close 126 bytes", [][]byte{frame(8, append(closePayload(1000, ""), make([]byte, 124)...))}, 1002, ""},
		{"fragmented ping", [][]byte{frag(9, []byte("a"), false), frag(0, []byte("b"), true)}, 1002, ""},
		{"fragmented close", [][]byte{frag(8, closePayload(1000, ""), false)}, 1002, ""},
		{"continuation without start", [][]byte{frag(0, []byte("x"), true)}, 1002, ""},
		{"non-final continuation without start", [][]byte{frag(0, []byte("x"), false)}, 1002, ""},
		{"text inside fragmented text", [][]byte{frag(1, []byte("a"), false), frag(1, []byte("b"), true)}, 1002, ""},
		{"binary inside fragmented text", [][]byte{frag(1, []byte("a"), false), frag(2, []byte("b"), false)}, 1002, ""},
		{"text inside fragmented binary", [][]byte{frag(2, []byte("a"), false), frag(1, []byte("b"), true)}, 1002, ""},
		{"continuation after complete message", [][]byte{frag(1, []byte("a"), false), frag(0, []byte("b"), true), frag(0, []byte("c"), true)}, 1002, "ab"},
		{"64-bit length with MSB set", [][]byte{cframe{op: 2, key: testKey, length: i64(-1)}.bytes()}, 1002, ""},
		{"close one byte", [][]byte{frame(8, []byte{0x03})}, 1002, ""},
		{"close reason not UTF-8", [][]byte{frame(8, closePayload(1000, "bad \xff reason"))}, 1007, ""},
		{"close reason truncated rune", [][]byte{frame(8, closePayload(1000, "\xe2\x82"))}, 1007, ""},
		{"text not UTF-8", [][]byte{frame(1, []byte("abc\xffdef"))}, 1007, ""},
		{"text surrogate", [][]byte{frame(1, []byte("\xed\xa0\x80"))}, 1007, ""},
		{"text overlong", [][]byte{frame(1, []byte("\xc0\xaf"))}, 1007, ""},
		{"text truncated at end", [][]byte{frame(1, []byte("ok\xe2\x82"))}, 1007, ""},
		{"text invalid across fragments", [][]byte{frag(1, []byte("ok\xe2\x82"), false), frag(0, []byte("A"), true)}, 1007, ""},
		{"text truncated at last fragment", [][]byte{frag(1, []byte("ok"), false), frag(0, []byte("\xe2\x82"), true)}, 1007, ""},
		{"over limit single frame", [][]byte{frame(2, make([]byte, 1025))}, 1009, ""},
		{"over limit header only", [][]byte{cframe{op: 2, key: testKey, length: i64(1 << 40)}.bytes()}, 1009, ""},
		{"over limit 16-bit header only", [][]byte{cframe{op: 1, key: testKey, length: i64(2000)}.bytes()}, 1009, ""},
		{"over limit after reassembly", [][]byte{frag(2, make([]byte, 600), false), frag(0, make([]byte, 425), true)}, 1009, ""},
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		cases = append(cases, tc{"reserved opcode " + string("0123456789ABCDEF"[op]),
			[][]byte{frame(op, []byte("x"))}, 1002, ""})
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, tc{"close code " + itoa(int(code)), [][]byte{frame(8, closePayload(code, ""))}, 1002, ""})
	}
	// Each case starts its own engine; all run at once (t.Run may be called
	// from several goroutines; t.Parallel would cap them at GOMAXPROCS).
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, tc := range cases {
		wg.Go(func() {
			t.Run(tc.name, func(t *testing.T) {
				e, h := framingEngine(t, func(c *eventloop.Config) { c.MaxMessageBytes = 1024 })
				for i, m := range feedModes[:2] {
					c := dialWS(t, e)
					recvOpen(t, h.openCh)
					for _, w := range tc.wire {
						feedBad(c, w, m.chunk, 1)
					}
					if tc.echo != "" {
						c.expectMessage(1, []byte(tc.echo))
					}
					c.expectClose(tc.code)
					if got := recvCode(t, h.closeCh); int(got) != tc.code {
						t.Errorf("%s: Handler.Close code %d, want %d", m.name, got, tc.code)
					}
					if got := e.Stats().ProtocolErrors; got != int64(i+1) {
						t.Errorf("%s: ProtocolErrors = %d, want %d", m.name, got, i+1)
					}
				}
				select {
				case code := <-h.closeCh:
					t.Errorf("extra Handler.Close(%d)", code)
				default:
				}
			})
		})
	}
}

// TestFailFast: the server must not wait for the rest of a message it
// already knows is bad. An invalid first fragment gets 1007, and a frame
// declaring a 1 TiB payload gets 1009, before anything more is sent; the
// declared size allocates nothing.
func TestFailFast(t *testing.T) {
	e, _ := framingEngine(t, nil)
	t.Run("invalid first fragment", func(t *testing.T) {
		c := dialWS(t, e)
		c.send(frag(1, []byte("abc\xc3\x28"), false))
		c.expectClose(1007)
	})
	t.Run("invalid bytes mid-message", func(t *testing.T) {
		c := dialWS(t, e)
		c.send(frag(1, []byte("fine"), false), frag(0, []byte("\xf5"), false))
		c.expectClose(1007)
	})
	t.Run("1 TiB declared", func(t *testing.T) {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		c := dialWS(t, e)
		c.send(cframe{op: 2, key: testKey, length: i64(1 << 40)}.bytes())
		c.expectClose(1009)
		runtime.ReadMemStats(&ms)
		if grew := ms.TotalAlloc - before; grew > 4<<20 {
			t.Fatalf("allocated %d bytes for a frame that was refused", grew)
		}
	})
	t.Run("over limit fragment", func(t *testing.T) {
		c := dialWS(t, e)
		c.send(frag(2, make([]byte, 60000), false))
		c.send(cframe{op: 0, notFin: true, key: testKey, length: i64(10000)}.bytes()[:8]) // header only
		c.expectClose(1009)
	})
}

// TestFragmentation: fragmented messages are reassembled and delivered
// whole, with control frames in between answered at once.
func TestFragmentation(t *testing.T) {
	var msgs atomic.Int64
	e, _ := framingEngine(t, nil, func(c *eventloop.Conn, p []byte, binary bool) {
		msgs.Add(1)
		op := byte(1)
		if binary {
			op = 2
		}
		_ = c.Write(eventloop.AppendFrame(nil, wsOp(op), p))
	})
	euro := "€" // e2 82 ac
	for _, tc := range []struct {
		name   string
		frames [][]byte
		op     byte
		want   string
	}{
		{"text in three", [][]byte{frag(1, []byte("Hel"), false), frag(0, []byte("lo, "), false), frag(0, []byte("world"), true)}, 1, "Hello, world"},
		{"binary in two", [][]byte{frag(2, []byte{0, 1}, false), frag(0, []byte{0xff}, true)}, 2, "\x00\x01\xff"},
		{"empty fragments", [][]byte{frag(1, nil, false), frag(0, nil, false), frag(0, []byte("x"), false), frag(0, nil, true)}, 1, "x"},
		{"all empty", [][]byte{frag(1, nil, false), frag(0, nil, true)}, 1, ""},
		{"rune split 1+2", [][]byte{frag(1, []byte(euro[:1]), false), frag(0, []byte(euro[1:]), true)}, 1, euro},
		{"rune split 1+1+1", [][]byte{frag(1, []byte(euro[:1]), false), frag(0, []byte(euro[1:2]), false), frag(0, []byte(euro[2:]+"!"), true)}, 1, euro + "!"},
		{"4-byte rune split", [][]byte{frag(1, []byte("\xf0\x9f"), false), frag(0, []byte("\x91\x8b"), true)}, 1, "👋"},
		{"binary bytes need no UTF-8", [][]byte{frag(2, []byte{0xe2, 0x82}, false), frag(0, []byte{0x41}, true)}, 2, "\xe2\x82A"},
		{"64 KiB in 16 frames", sixteen(), 2, strings.Repeat("q", 65536)},
	} {
		for mi, m := range feedModes {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				c := dialWS(t, e)
				before := msgs.Load()
				// Pings between every fragment: each pong arrives, with its
				// payload, before the message it interrupted.
				var wire []byte
				for i, f := range tc.frames {
					wire = append(wire, f...)
					if i < len(tc.frames)-1 {
						wire = append(wire, frame(9, []byte("p"+itoa(i)))...)
					}
				}
				feed(c, wire, m.chunk*max(1, len(tc.want)/500), uint64(mi))
				for i := 0; i < len(tc.frames)-1; i++ {
					f := c.next()
					if f.op != 0xA || string(f.payload) != "p"+itoa(i) {
						t.Fatalf("got %v %q, want pong %q", f, f.payload, "p"+itoa(i))
					}
				}
				c.expectMessage(tc.op, []byte(tc.want))
				if got := msgs.Load() - before; got != 1 {
					t.Fatalf("delivered %d messages, want 1", got)
				}
			})
		}
	}
}

func sixteen() [][]byte {
	var fs [][]byte
	for i := range 16 {
		op := byte(0)
		if i == 0 {
			op = 2
		}
		fs = append(fs, frag(op, bytes.Repeat([]byte("q"), 4096), i == 15))
	}
	return fs
}

// TestPingPong: a ping is answered with a pong carrying the same payload; an
// unsolicited pong is ignored.
func TestPingPong(t *testing.T) {
	e, _ := framingEngine(t, nil)
	c := dialWS(t, e)
	for _, p := range []string{"", "x", strings.Repeat("p", 125), "\x00\xff binary is fine"} {
		c.send(frame(9, []byte(p)))
		f := c.next()
		if f.op != 0xA || !f.fin || string(f.payload) != p {
			t.Fatalf("ping %q: got %v %q", p, f, f.payload)
		}
	}
	c.send(frame(0xA, []byte("unsolicited")), frame(1, []byte("after")))
	c.expectMessage(1, []byte("after"))
}

// TestCloseHandshake: a valid close code is echoed and TCP closed; an empty
// close gets an empty one back; the handler hears the code exactly once.
func TestCloseHandshake(t *testing.T) {
	e, h := framingEngine(t, nil)
	for _, tc := range []struct {
		payload []byte
		code    int // echoed code; 1005: empty close frame
	}{
		{closePayload(1000, ""), 1000},
		{closePayload(1001, "going"), 1001},
		{closePayload(1002, ""), 1002},
		{closePayload(1003, ""), 1003},
		{closePayload(1007, ""), 1007},
		{closePayload(1011, "oops"), 1011},
		{closePayload(3000, ""), 3000},
		{closePayload(4000, "héllo"), 4000},
		{closePayload(4999, strings.Repeat("r", 123)), 4999},
		{nil, 1005},
	} {
		for _, m := range feedModes[:2] {
			c := dialWS(t, e)
			recvOpen(t, h.openCh)
			feed(c, frame(8, tc.payload), m.chunk, 0)
			f := c.next()
			if f.op != 8 || f.closeCode() != tc.code {
				t.Fatalf("close %d: got %v", tc.code, f)
			}
			if tc.code == 1005 && len(f.payload) != 0 {
				t.Fatalf("empty close answered with payload %q", f.payload)
			}
			c.expectEOF()
			if got := recvCode(t, h.closeCh); int(got) != tc.code {
				t.Fatalf("Handler.Close(%d), want %d", got, tc.code)
			}
		}
	}
	select {
	case code := <-h.closeCh:
		t.Fatalf("extra Handler.Close(%d)", code)
	default:
	}
}

// TestNothingAfterClose: frames that follow the peer's close frame, even in
// the same write, are not processed.
func TestNothingAfterClose(t *testing.T) {
	var msgs atomic.Int64
	e, h := framingEngine(t, nil, func(c *eventloop.Conn, p []byte, binary bool) { msgs.Add(1) })
	for _, tail := range [][]byte{
		frame(1, []byte("late")),
		append(frag(1, []byte("la"), false), frag(0, []byte("te"), true)...),
		frame(9, []byte("late ping")),
		frame(1, []byte("\xff")), // would be a 1007
		cframe{op: 1, unmasked: true}.bytes(),
	} {
		c := dialWS(t, e)
		c.send(append(frame(8, closePayload(1000, "")), tail...))
		c.expectClose(1000) // and nothing else: no echo, pong or second close
		if got := recvCode(t, h.closeCh); got != 1000 {
			t.Fatalf("Handler.Close(%d), want 1000", got)
		}
	}
	if n := msgs.Load(); n != 0 {
		t.Fatalf("%d messages delivered after close", n)
	}
	if n := e.Stats().ProtocolErrors; n != 0 {
		t.Fatalf("%d protocol errors counted after close", n)
	}
}

// TestServerClose: Conn.Close sends the code and reason, waits for the
// peer's close frame and then drops TCP; the handler hears its own code.
func TestServerClose(t *testing.T) {
	onMsg := func(c *eventloop.Conn, p []byte, binary bool) {
		c.Close(eventloop.ClosePolicy, string(p))
		if err := c.Write(eventloop.TextFrame([]byte("after close"))); err != eventloop.ErrClosed {
			panic(fmt.Sprint("Write after Close returned ", err))
		}
	}
	t.Run("peer answers", func(t *testing.T) {
		h := newEchoHandler()
		h.onMsg = onMsg
		e := startEngine(t, h, nil) // CloseTimeout 3 s: the peer's answer must end it sooner
		c := dialWS(t, e)
		c.send(frame(1, []byte("bye")))
		f := c.next()
		if f.op != 8 || f.closeCode() != 1008 || string(f.payload[2:]) != "bye" {
			t.Fatalf("got %v", f)
		}
		start := time.Now()
		c.send(frame(8, closePayload(1008, "")))
		c.expectEOF()
		if el := time.Since(start); el > time.Second { // CloseTimeout would be 3 s
			t.Fatalf("TCP closed %v after the peer's close, want at once", el)
		}
		if got := recvCode(t, h.closeCh); got != eventloop.ClosePolicy {
			t.Fatalf("Handler.Close(%d)", got)
		}
	})
	t.Run("peer silent", func(t *testing.T) {
		e, h := framingEngine(t, nil, onMsg) // CloseTimeout 50 ms
		c := dialWS(t, e)
		c.send(frame(1, []byte(strings.Repeat("é", 100)))) // reason cut to 123 bytes at a rune boundary
		f := c.next()
		if f.op != 8 || f.closeCode() != 1008 || len(f.payload) > 125 || !utf8.Valid(f.payload[2:]) {
			t.Fatalf("got %v % x", f, f.payload)
		}
		c.expectEOF() // after CloseTimeout
		recvCode(t, h.closeCh)
	})
}

func itoa(i int) string { return strconv.Itoa(i) }
