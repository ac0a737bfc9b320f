package eventloop

import (
	"io"
	"log/slog"
	"strconv"
	"testing"
)

// BenchmarkFanoutLoopStreams is BenchmarkFanoutLoop for event streams: the
// same fan-out to 10,000 members, each numbering the shared event with an
// id line of its own (the loop's arena) and retaining it for a resume (its
// ring, within the node's replay bytes). Compare ns/delivery and allocs/op
// with BenchmarkFanoutLoop: nothing is allocated per member once the rings
// have grown.
func BenchmarkFanoutLoopStreams(b *testing.B) {
	const members = 10000
	for _, burst := range []int{1, 16} {
		b.Run("streams=10000/burst"+strconv.Itoa(burst), func(b *testing.B) {
			e := &Engine{cfg: Config{MaxOutboundBytes: 1 << 20, MaxNodeOutboundBytes: DefaultMaxNodeOutboundBytes, Loops: 1,
				StreamResume: DefaultStreamResume, StreamReplayBytes: DefaultStreamReplayBytes,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
			e.replayShare = DefaultStreamReplayBytes
			l := newLoop(e, 0)
			e.loops = []*loop{l}
			conns := make([]*Conn, members)
			nulls := make([]nullConn, members)
			for i := range conns {
				conns[i] = &Conn{gc: &nulls[i], loop: l, state: stateOpen, st: &stream{next: 1}}
				l.addConn(conns[i])
			}
			set := e.NewConnSet(conns)
			ev := []byte("data: " + string(make([]byte, 100)) + "\n\n")
			for range streamRingEvents { // the rings at their full size, as on a busy node
				l.box = append(l.box, task{frame: ev, aud: set})
				l.drain()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for range burst {
					l.box = append(l.box, task{frame: ev, aud: set})
				}
				l.drain()
			}
			deliveries := float64(b.N * members * burst)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
			if st := conns[0].st; st.next != uint64(b.N*burst+streamRingEvents+1) || st.ring.n == 0 {
				b.Fatalf("member 0: next id %d, %d retained", st.next, st.ring.n)
			}
		})
	}
}
