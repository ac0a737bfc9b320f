package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
)

// BenchmarkHookPublish is a v2 client publishing to a room of two (one
// other member, who receives each message) and waiting for each ok: with
// no hook, with a publish hook whose local backend answers {} at once, and
// with one that answers after 1 ms. The difference between the rows is the
// hook's cost per message. Reported besides ns/op (the mean round trip):
// p50 and p99 of the round trips, and the process's CPU per message
// (chatd, the backend and both clients: they all run in this process).
func BenchmarkHookPublish(b *testing.B) {
	for _, bc := range []struct {
		name  string
		hook  bool
		delay time.Duration
	}{{"none", false, 0}, {"hook", true, 0}, {"hook-1ms", true, time.Millisecond}} {
		b.Run(bc.name, func(b *testing.B) {
			backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				time.Sleep(bc.delay) // the backend's own work, simulated
				_, _ = io.WriteString(w, `{}`)
			}))
			defer backend.Close()
			s := startServer(b, func(c *server.Config) {
				c.RateLimit = -1
				if bc.hook {
					c.Hooks.Secret = hookSecret
					c.Hooks.Publish.URL = backend.URL + "/publish"
				}
			})
			alice, bob := connectV2(b, s.Addr(), "alice"), connectV2(b, s.Addr(), "bob")
			alice.join("r")
			bob.join("r")
			alice.expect("joined")
			go func() { // bob reads what he is sent, so that nothing piles up
				for {
					if _, _, err := bob.ws.ReadMessage(); err != nil {
						return
					}
				}
			}()
			req := map[string]any{"type": "publish", "roomId": "r", "content": "hello, this is a chat message"}
			rtt := make([]time.Duration, 0, 1<<16)
			cpu0 := cpuTime()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				alice.call(req)
				rtt = append(rtt, time.Since(start))
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			slices.Sort(rtt)
			b.ReportMetric(float64(rtt[len(rtt)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(rtt[len(rtt)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(cpu.Microseconds())/float64(len(rtt)), "cpu-µs/msg")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
