package eventloop

// Benchmarks of the Go-side hot paths, without sockets:
//   go test -run XXX -bench . -benchmem ./eventloop/

import (
	"io"
	"log/slog"
	"strconv"
	"testing"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
)

// BenchmarkDecode measures frame parsing: decoder.next over a buffer of
// masked client frames (header checks, unmasking, UTF-8 validation of text),
// ~256 KiB per op. Text frames use an all-zero mask key so that unmasking in
// place leaves them valid for the next op; the XOR costs the same.
func BenchmarkDecode(b *testing.B) {
	for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
		for _, size := range []int{100, 4096} {
			name := "text"
			key := [4]byte{}
			if op == ws.OpBinary {
				name, key = "binary", key1
			}
			b.Run(name+"/"+strconv.Itoa(size)+"B", func(b *testing.B) {
				p := make([]byte, size)
				for i := range p {
					p[i] = 'a' + byte(i%26)
				}
				one := maskedFrame(true, op, key, p)
				var buf []byte
				for len(buf) < 256<<10 {
					buf = append(buf, one...)
				}
				frames := len(buf) / len(one)
				src := &fakeSource{}
				var d decoder
				b.SetBytes(int64(len(buf)))
				b.ReportAllocs()
				for b.Loop() {
					src.b = buf
					for {
						ev := d.next(src, 1<<20, -1)
						if ev.kind != evMessage {
							if ev.kind != evNeedMore {
								b.Fatalf("event %d", ev.kind)
							}
							break
						}
						src.b = src.b[ev.n:]
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
			})
		}
	}
}

// nullConn stands in for a gnet connection whose writes always succeed at
// once; any method the write path does not use panics (nil embedded
// interface).
type nullConn struct {
	gnet.Conn
	writes, bytes int
}

func (c *nullConn) Write(p []byte) (int, error) { c.writes++; c.bytes += len(p); return len(p), nil }
func (c *nullConn) Writev(bs [][]byte) (int, error) {
	c.writes++
	n := 0
	for _, p := range bs {
		n += len(p)
	}
	c.bytes += n
	return n, nil
}
func (c *nullConn) OutboundBuffered() int { return 0 }

// BenchmarkFanoutLoop measures the transport's own cost of fanning one
// frame out to 10,000 connections on one loop: the mailbox drain, the
// per-member outbound check, queueing, the flush and the node's outbound
// budget at its default (a measurement of every queue each time the loop
// has flushed a step of bytes), with writes that cost nothing (the real write(2) costs ~3.5 µs per call on loopback here, see
// BenchmarkFanoutSockets and BenchmarkCoalescing for that). "burst16" posts
// 16 fan-outs before the loop drains them: one writev of 16 frames per
// member.
func BenchmarkFanoutLoop(b *testing.B) {
	const members = 10000
	for _, burst := range []int{1, 16} {
		b.Run("conns=10000/burst"+strconv.Itoa(burst), func(b *testing.B) {
			e := &Engine{cfg: Config{MaxOutboundBytes: 1 << 20, MaxNodeOutboundBytes: DefaultMaxNodeOutboundBytes, Loops: 1,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
			l := newLoop(e, 0)
			e.loops = []*loop{l}
			conns := make([]*Conn, members)
			nulls := make([]nullConn, members)
			for i := range conns {
				conns[i] = &Conn{gc: &nulls[i], loop: l, state: stateOpen}
				l.addConn(conns[i])
			}
			set := e.NewConnSet(conns)
			frame := TextFrame(make([]byte, 100))
			b.ReportAllocs()
			for b.Loop() {
				for range burst {
					l.box = append(l.box, task{frame: frame, aud: set})
				}
				l.drain()
			}
			deliveries := float64(b.N * members * burst)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
			b.ReportMetric(float64(l.stats.writeCalls.Load())/float64(l.stats.framesOut.Load()), "writes/frame")
			if nulls[0].bytes != b.N*burst*len(frame) {
				b.Fatalf("member 0 got %d bytes, want %d", nulls[0].bytes, b.N*burst*len(frame))
			}
		})
	}
}

// BenchmarkMeasureQueues measures what the outbound budget costs per
// connection each time a loop measures its queues (every timer sweep, and
// every budget step of bytes flushed): 10,000 connections, a tenth of them
// with a backlog.
func BenchmarkMeasureQueues(b *testing.B) {
	const n = 10000
	e := &Engine{cfg: Config{MaxOutboundBytes: 1 << 20, MaxNodeOutboundBytes: DefaultMaxNodeOutboundBytes, Loops: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	l := newLoop(e, 0)
	e.loops = []*loop{l}
	for i := range n {
		g := &bufConn{}
		if i%10 == 0 {
			g.buffered = 1000 + i*50
		}
		l.addConn(&Conn{gc: g, loop: l, state: stateOpen})
	}
	b.ReportAllocs()
	for b.Loop() {
		l.checkBudget()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/conn")
}

// BenchmarkParseRequest measures the upgrade request parser on a typical
// browser request head.
func BenchmarkParseRequest(b *testing.B) {
	head := []byte("GET /ws?room=lobby HTTP/1.1\r\nHost: chat.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
		"Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
		"Sec-WebSocket-Version: 13\r\nOrigin: https://chat.example.com\r\nSec-WebSocket-Extensions: permessage-deflate\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nConnection: keep-alive, Upgrade\r\nCookie: session=abcdef0123456789\r\n" +
		"Pragma: no-cache\r\nCache-Control: no-cache\r\nUpgrade: websocket\r\n\r\n")
	b.SetBytes(int64(len(head)))
	b.ReportAllocs()
	for b.Loop() {
		if findHeadEnd(head, 0) != len(head) {
			b.Fatal("no end")
		}
		if r, err := parseRequest(head); err != nil || !r.Upgrade {
			b.Fatal(err)
		}
	}
}
