package eventloop_test

// Benchmarks over real loopback sockets:
//   go test -run XXX -bench 'Sockets|Coalescing' -benchmem ./eventloop/
// Clients run in the same process and share the machine's two cores with
// the engine, so ns/op includes the clients' reads.

import (
	"io"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
)

// BenchmarkFanoutSockets fans one 100-byte frame out to N real connections
// (two loops) and waits until every client has read it: the cost of a
// fan-out when nothing coalesces, one write(2) per member. 4000 connections
// use 8000 of the process's 20,000 file descriptors; 10k per loop would need
// 40,000 (see BenchmarkFanoutLoop for 10k members without sockets).
func BenchmarkFanoutSockets(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		b.Run("conns="+strconv.Itoa(n), func(b *testing.B) {
			h := newEchoHandler()
			e := startEngine(b, h, nil)
			cs := dialMany(b, e, n)
			set := e.NewConnSet(collectOpen(b, h, n))
			frame := eventloop.TextFrame(make([]byte, 100))
			var got atomic.Int64
			done := make(chan struct{}, 1)
			for _, c := range cs {
				go func() {
					buf := make([]byte, len(frame))
					for {
						if _, err := io.ReadFull(c.r, buf); err != nil {
							return
						}
						if got.Add(1)%int64(n) == 0 {
							done <- struct{}{}
						}
					}
				}()
			}
			before := e.Stats()
			b.ResetTimer()
			for b.Loop() {
				e.Fanout(frame, set, nil)
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					b.Fatalf("fan-out stalled at %d of %d", got.Load()%int64(n), n)
				}
			}
			st := e.Stats()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
			b.ReportMetric(float64(st.WriteCalls-before.WriteCalls)/float64(st.FramesOut-before.FramesOut), "writes/frame")
		})
	}
}

// BenchmarkCoalescing sends 16 frames of 160 bytes to one connection per op,
// three ways: all written in one loop turn (one writev), posted as 16 Sends
// in a burst (the mailbox batches what arrives before the loop wakes), and
// as 16 separate turns (each waits for the previous: 16 write calls). The
// writes/frame metric is Stats().WriteCalls / FramesOut.
func BenchmarkCoalescing(b *testing.B) {
	const perOp = 16
	for _, mode := range []string{"one-turn", "send-burst", "separate-turns"} {
		b.Run(mode, func(b *testing.B) {
			h := newEchoHandler()
			e := startEngine(b, h, nil)
			c := dialWS(b, e)
			conn := recvOpen(b, h.openCh)
			frame := eventloop.TextFrame(make([]byte, 158)) // 160 bytes on the wire
			arrived := make(chan error, 1)
			go func() {
				buf := make([]byte, perOp*len(frame))
				for {
					_, err := io.ReadFull(c.r, buf)
					arrived <- err
					if err != nil {
						return
					}
				}
			}()
			turn := make(chan struct{})
			writeOne := func() { _ = conn.Write(frame); turn <- struct{}{} }
			before := e.Stats()
			b.ResetTimer()
			for b.Loop() {
				switch mode {
				case "one-turn":
					conn.Exec(func() {
						for range perOp {
							_ = conn.Write(frame)
						}
					})
				case "send-burst":
					for range perOp {
						conn.Send(frame)
					}
				case "separate-turns":
					for range perOp {
						conn.Exec(writeOne)
						<-turn
					}
				}
				if err := <-arrived; err != nil {
					b.Fatal(err)
				}
			}
			st := e.Stats()
			frames := st.FramesOut - before.FramesOut
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
			b.ReportMetric(float64(st.WriteCalls-before.WriteCalls)/float64(frames), "writes/frame")
		})
	}
}
