package hooks

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// benchClient starts a publish hook against a local backend that answers
// answer at once.
func benchClient(b *testing.B, answer string) *Client {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, answer)
	}))
	b.Cleanup(srv.Close)
	c, err := New(Config{Publish: Endpoint{URL: srv.URL + "/publish"}, Secret: testSecret, NodeID: "bench"},
		prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

var benchReq = &PublishRequest{UserID: "ypk0gg3ew5", Name: "alice", RoomID: "general", Content: strings.Repeat("x", 100)}

// BenchmarkPublishHook is one publish call after another (the latency of
// one call: pool, keep-alive HTTP on loopback, JSON both ways, the
// backend's handler), answered {} or with a replacement.
func BenchmarkPublishHook(b *testing.B) {
	for _, bc := range []struct{ name, answer string }{{"allow", `{}`}, {"rewrite", `{"content":"` + strings.Repeat("y", 100) + `"}`}} {
		b.Run(bc.name, func(b *testing.B) {
			c := benchClient(b, bc.answer)
			done := make(chan *PublishResult, 1)
			b.ReportAllocs()
			for b.Loop() {
				c.Publish(benchReq, func(r *PublishResult) { done <- r })
				if r := <-done; r.Outcome != Allowed || r.Failure != "" {
					b.Fatalf("%+v", *r)
				}
			}
		})
	}
}

// BenchmarkPublishHookParallel keeps many calls out at once, each caller
// in a room of its own (throughput through MaxInFlight workers and
// keep-alive connections).
func BenchmarkPublishHookParallel(b *testing.B) {
	c := benchClient(b, `{}`)
	var rooms atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		req := *benchReq
		req.RoomID = fmt.Sprint("room-", rooms.Add(1))
		done := make(chan *PublishResult, 1)
		for pb.Next() {
			c.Publish(&req, func(r *PublishResult) { done <- r })
			if r := <-done; r.Failure != "" {
				b.Errorf("%+v", *r)
				return
			}
		}
	})
}
