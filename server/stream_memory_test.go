package server_test

import (
	"fmt"
	"net"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
)

// Slow and vanished stream readers are bounded exactly like slow WebSocket
// readers. In one room with readers that keep pace: WebSockets that never
// read, streams that never read, and streams whose client vanished (TCP
// gone: detached, waiting for a resume). A flood far beyond the socket
// buffers closes every reader that does not read, 4008 when its queue passes
// -max-outbound-bytes, WebSocket or stream alike, and ends every vanished
// stream once what was written to it since it left no longer fits the
// events it may retain. The counts are exact, and the node's queued bytes
// never pass the readers' caps.
func TestStreamSlowReadersBounded(t *testing.T) {
	const (
		slowWS, slowStreams, vanished = 6, 6, 4
		capBytes                      = 256 << 10
		n, batch                      = 4000, 20 // 4000 x ~4 KiB = 16 MiB
	)
	s := startServer(t, func(c *server.Config) { c.RateLimit, c.MaxOutboundBytes = -1, capBytes })
	fast := connectV2(t, s.Addr(), "fast")
	fast.join("flood")

	var wsReaders []net.Conn
	for i := 0; i < slowWS; i++ {
		c, _ := rawUpgrade(t, s.Addr())
		_ = c.(*net.TCPConn).SetReadBuffer(4096)
		if _, err := c.Write(maskedText(fmt.Sprintf(`{"type":"join","roomId":"flood","username":"ws%d"}`, i))); err != nil {
			t.Fatal(err)
		}
		wsReaders = append(wsReaders, c)
	}
	var streams []*streamClient
	for i := 0; i < slowStreams+vanished; i++ {
		c := openStream(t, s.Addr())
		_ = c.conn.(*net.TCPConn).SetReadBuffer(4096)
		c.hello(fmt.Sprintf("stream%d", i))
		c.join("flood")
		streams = append(streams, c)
	}
	for i := 0; i < slowWS+slowStreams+vanished; i++ {
		fast.expect("joined")
	}
	for _, c := range streams[slowStreams:] {
		_ = c.conn.Close()
	}
	waitFor(t, 5*time.Second, "vanished streams detached", func() bool {
		return scrape(t, s)["chatd_stream_detached"] == vanished
	})

	// Sample the live heap (as of each GC, which the flood's garbage makes
	// frequent) while the flood runs: the node is in this process. Without
	// the caps the stalled readers would queue the whole flood, 16 MiB
	// each: run alone, this test saw the live heap grow by 103 MiB then,
	// and by 6 MiB with them. (In the whole package's run the other tests'
	// heap spaces the GCs out, and the check sees less.)
	live := func() int64 {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	runtime.GC()
	base := live()
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if l := live(); l > peak.Load() {
				peak.Store(l)
			}
		}
	}()

	sender := connectV2(t, s.Addr(), "sender")
	sender.join("flood")
	fast.expect("joined")
	payload := strings.Repeat("x", 4000)
	caughtUp := make(chan struct{}, n/batch)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if i > 0 && i%batch == 0 {
				<-caughtUp
			}
			sender.send(`{"type":"publish","roomId":"flood","content":"` + payload + `"}`) // no id: no reply
		}
	}()
	got, left := 0, 0
	deadline := time.Now().Add(60 * time.Second) // bounds the whole run
	for got < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages after 60 s", got, n)
		}
		m := fast.read()
		switch m.str("type") {
		case "message":
			got++
			if got%batch == 0 {
				caughtUp <- struct{}{}
			}
		case "left":
			left++
		}
	}
	wg.Wait()
	close(stop)
	<-sampled
	// 12 stalled readers at 256 KiB (gnet keeps a queue in buffers of up
	// to twice its bytes) is ~6 MiB.
	t.Logf("live heap: %d MiB before the flood, at most %d MiB during it", base>>20, peak.Load()>>20)
	if grew := peak.Load() - base; grew > 32<<20 {
		t.Errorf("the live heap grew by %d MiB during the flood", grew>>20)
	}
	for ; left < slowWS+slowStreams+vanished; left++ {
		fast.expect("left")
	}

	m := scrape(t, s)
	for name, want := range map[string]float64{
		"chatd_slow_consumer_closes_total":        slowWS + slowStreams,
		"chatd_stream_slow_consumer_closes_total": slowStreams,
		"chatd_stream_expired_total":              vanished,
		"chatd_outbound_budget_closes_total":      0,
		"chatd_stream_connections":                0,
		"chatd_stream_detached":                   0,
		"chatd_stream_sessions":                   0,
		"chatd_websocket_connections":             2,
	} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
	// Nothing stays behind: no queue, no retained event, no detached session.
	waitFor(t, 5*time.Second, "retained events let go", func() bool {
		m := scrape(t, s)
		return m["chatd_stream_replay_bytes"] == 0 && m["chatd_outbound_queued_bytes"] < 64<<10
	})
	_ = wsReaders
}
