package server

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server/internal/redistest"
)

type captureDeliverer struct {
	mu     sync.Mutex
	frames []string
	excl   []string
}

func (c *captureDeliverer) Deliver(room string, frame []byte, ex string) {
	c.mu.Lock()
	c.frames = append(c.frames, string(frame[frameHeaderLen(frame):]))
	c.excl = append(c.excl, ex)
	c.mu.Unlock()
}

func TestEnvelopeOf(t *testing.T) {
	origin := appendJSONString(nil, `n"1`)
	msg := &Chat{Type: TypeMessage, Content: strings.Repeat("x", 300), Username: "al", UserID: "u1", Timestamp: "t"}
	for _, ev := range []*Event{
		{Room: "r", Payload: msg, ExcludeUserID: "u1"},
		{Room: "r", Payload: &Presence{Type: TypeUserLeft, Username: "b", UserID: "u2"}},
		{Room: "r", Payload: &Chat{Type: TypeMessage, Content: strings.Repeat("y", 70000)}, ExcludeUserID: "u1"},
	} {
		js := string(envelopeOf(ev.frame(), ev.ExcludeUserID, origin))
		want := string(ev.frame()[frameHeaderLen(ev.frame()):])
		want = want[:len(want)-1]
		if ev.ExcludeUserID != "" {
			want += `,"excludeUserId":"` + ev.ExcludeUserID + `"`
		}
		want += `,"origin":"n\"1"}`
		if js != want {
			t.Fatalf("got %.200s\nwant %.200s", js, want)
		}
	}
}

func TestDeliverDecodesOnce(t *testing.T) {
	d := &captureDeliverer{}
	b := &RedisBroker{d: d}
	b.log = clusterQuietLogger()
	b.deliver("room:r", `{"type":"message","content":"hi","username":"a","userId":"u","timestamp":"t","excludeUserId":"x","origin":"n","seq":5}`)
	b.deliver("room:r", `{"type":"userJoined","username":"a","userId":"u","memberCount":0,"excludeUserId":"u"}`)
	b.deliver("room:r", `{"origin":"n","type":"custom","excludeUserId":"x","a":[1,{"b":null}]}`)
	b.deliver("room:r", `{"type":5}`)
	want := []string{
		`{"type":"message","content":"hi","username":"a","userId":"u","timestamp":"t"}`,
		`{"type":"userJoined","username":"a","userId":"u","memberCount":0}`,
		`{"type":"custom","a":[1,{"b":null}]}`,
	}
	if strings.Join(d.frames, "\n") != strings.Join(want, "\n") || strings.Join(d.excl, ",") != "x,u,x" {
		t.Fatalf("frames %q excl %q", d.frames, d.excl)
	}
	if b.stats.dropped.Load() != 1 || b.stats.forwarded.Load() != 1 {
		t.Fatalf("dropped %d forwarded %d", b.stats.dropped.Load(), b.stats.forwarded.Load())
	}
}

// Under load, many publishes share one round trip.
func TestPublishPipelines(t *testing.T) {
	rs := redistest.Start(t)
	b, err := NewRedisBroker(RedisOptions{URL: rs.URL(), NodeID: "p", Logger: clusterQuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(&captureDeliverer{}); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const n = 20000
	failed := 0
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		b.Publish(&Event{Room: "load", Payload: &Presence{Type: TypeUserJoined, Username: "u", UserID: "x"}},
			func(error) { mu.Lock(); failed++; mu.Unlock() })
	}
	deadline := time.Now().Add(20 * time.Second)
	for b.Stats().Published+b.Stats().PublishFailed < n {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", b.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := b.Stats()
	t.Logf("%d publishes in %d round trips", st.Published, st.PublishTrips)
	// (~80 round trips here; far more under -race, whose slower producer
	// leaves less to batch.)
	if failed != 0 || st.Published != n || st.PublishTrips > n/2 {
		t.Fatalf("failed %d, stats %+v", failed, st)
	}
}

func BenchmarkRedisDeliver(b *testing.B) {
	br := &RedisBroker{d: nopDeliverer{}}
	p := `{"type":"message","content":"Hello everyone! this is a typical chat line","username":"alice","userId":"ypk0gg3ew5","timestamp":"2026-11-26T19:41:01.978Z","excludeUserId":"ypk0gg3ew5","origin":"node-1"}`
	b.ReportAllocs()
	for b.Loop() {
		br.deliver("room:general", p)
	}
}

func BenchmarkRedisEnvelope(b *testing.B) {
	origin := appendJSONString(nil, "node-1")
	frame := frameOf(&Chat{Type: TypeMessage, Content: "Hello everyone! this is a typical chat line", Username: "alice",
		UserID: "ypk0gg3ew5", Timestamp: "2026-11-26T19:41:01.978Z"})
	b.ReportAllocs()
	for b.Loop() {
		envelopeOf(frame, "ypk0gg3ew5", origin)
	}
}

type nopDeliverer struct{}

func (nopDeliverer) Deliver(string, []byte, string) {}

func clusterQuietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
