package redis

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/internal/redistest"
)

// The Pub/Sub payload is the body with excludeUserId (when set) and origin
// appended, bytes otherwise untouched, whatever the body's size.
func TestEnvelopeOf(t *testing.T) {
	origin := appendJSONString(nil, `n"1`)
	for _, tc := range []struct {
		body, exclude string
		conn          uint64
	}{
		{`{"type":"message","content":"` + strings.Repeat("x", 300) + `","username":"al","userId":"u1","timestamp":"t"}`, "u1", 12},
		{`{"type":"userLeft","username":"b","userId":"u2","memberCount":0}`, "", 0},
		{`{"type":"message","content":"` + strings.Repeat("y", 70000) + `"}`, "u1", 1 << 60},
	} {
		got := string(envelopeOf([]byte(tc.body), tc.exclude, origin, tc.conn))
		want := tc.body[:len(tc.body)-1]
		if tc.exclude != "" {
			want += `,"excludeUserId":"` + tc.exclude + `"`
		}
		want += `,"origin":"n\"1"`
		if tc.conn != 0 {
			want += fmt.Sprintf(`,"originConn":%d`, tc.conn)
		}
		want += "}"
		if got != want {
			t.Fatalf("got %.200s\nwant %.200s", got, want)
		}
	}
}

// A payload arriving on a room channel is handed to the Receiver as is; the
// ones it refuses are counted as dropped.
func TestDeliverHandsPayloadToReceiver(t *testing.T) {
	r := &recordingReceiver{refuse: "bad"}
	b := &Broker{recv: r, log: quietLogger(), flows: map[string]*roomFlow{}}
	b.deliver("room:r", `{"type":"x"}`)
	b.deliver("room:r2", `bad`)
	b.deliver("other:r", `{"type":"x"}`) // not a room channel
	if got := strings.Join(r.got, "|"); got != `r {"type":"x"}` {
		t.Fatalf("received %q", got)
	}
	if b.stats.dropped.Load() != 1 {
		t.Fatalf("dropped %d", b.stats.dropped.Load())
	}
}

// Publishes that queue up while a round trip is in flight go out together,
// PublishBatch to a pipeline: here the first one waits on a Redis that
// holds writes back (CLIENT PAUSE WRITE) while the rest queue behind it, so
// the count of round trips is known exactly: the first, then full batches.
func TestPublishPipelines(t *testing.T) {
	rs := redistest.Start(t)
	if rs.Mini() {
		t.Skip("needs a real redis-server (CLIENT PAUSE)")
	}
	b, err := New(Options{URL: rs.URL(), NodeID: "p", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(&recordingReceiver{}); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	if err := rs.Client().Do(ctx, "CLIENT", "PAUSE", 4000, "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	const n = 20000
	failed := 0
	var mu sync.Mutex
	var answered sync.WaitGroup
	answered.Add(n)
	body := []byte(`{"type":"userJoined","username":"u","userId":"x","memberCount":1}`)
	for i := 0; i < n; i++ {
		b.Publish(&broker.Event{Room: "load", Body: body}, func(_ uint64, err error) {
			if err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
			answered.Done()
		})
	}
	if err := rs.Client().Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { answered.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("not every publish was answered; stats %+v", b.Stats())
	}
	mu.Lock()
	defer mu.Unlock()
	st := b.Stats()
	most := int64(1 + (n-1+broker.DefaultPublishBatch-1)/broker.DefaultPublishBatch) // the first, then full batches
	if failed != 0 || st.Published != n || st.PublishTrips > most || st.PublishTrips < most-1 {
		t.Fatalf("failed %d; %d published in %d round trips, want %d or %d; stats %+v", failed, st.Published,
			st.PublishTrips, most-1, most, st)
	}
}

func BenchmarkEnvelope(b *testing.B) {
	origin := appendJSONString(nil, "node-1")
	body := []byte(`{"type":"message","content":"Hello everyone! this is a typical chat line","username":"alice","userId":"ypk0gg3ew5","timestamp":"2026-11-26T19:41:01.978Z"}`)
	b.ReportAllocs()
	for b.Loop() {
		envelopeOf(body, "ypk0gg3ew5", origin, 12345)
	}
}

// recordingReceiver records what a broker hands it.
type recordingReceiver struct {
	mu     sync.Mutex
	got    []string
	refuse string
}

func (r *recordingReceiver) Receive(room, payload string) error {
	if payload == r.refuse {
		return errRefused
	}
	r.mu.Lock()
	r.got = append(r.got, room+" "+payload)
	r.mu.Unlock()
	return nil
}

func (r *recordingReceiver) Deliver(*broker.Event) {}

func (r *recordingReceiver) Resync(room, reason string) {}

func (r *recordingReceiver) Announce(bool, broker.Member, int) *broker.Event { return nil }

func (r *recordingReceiver) PresenceBody(joined bool, m broker.Member, count int) []byte {
	return []byte(`{"type":"presence"}`)
}

var errRefused = &refusedError{}

type refusedError struct{}

func (*refusedError) Error() string { return "refused" }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// storedPosition reads exactly what the store script appends, and nothing
// else.
func TestStoredPosition(t *testing.T) {
	for _, tc := range []struct {
		p    string
		pos  broker.Position
		isOK bool
	}{
		{`{"type":"message","content":"x","origin":"n","offset":12,"epoch":"ab1"}`, broker.Position{Epoch: "ab1", Offset: 12}, true},
		{`{"type":"message","content":",\"offset\":7,\"epoch\":\"fake\"}"}`, broker.Position{}, false},
		{`{"type":"userLeft","username":"a","userId":"u","memberCount":1,"origin":"n"}`, broker.Position{}, false},
		{`{"type":"message","offset":0,"epoch":"e"}`, broker.Position{}, false},
		{`{"type":"message","offset":x,"epoch":"e"}`, broker.Position{}, false},
		{`{"offset":3,"epoch":"e\"}`, broker.Position{}, false},
	} {
		pos, ok := storedPosition(tc.p)
		if ok != tc.isOK || pos != tc.pos {
			t.Errorf("%s: %+v %v, want %+v %v", tc.p, pos, ok, tc.pos, tc.isOK)
		}
	}
}

// A node's connections are named after it unless Redis would refuse the
// name; CLIENT LIST lines give back the name and the idle time.
func TestClientNameAndFields(t *testing.T) {
	for id, want := range map[string]string{"A": "chatd:A", "node-7f": "chatd:node-7f", "a b": "", "a\nb": "", "é": ""} {
		if got := clientName(id); got != want {
			t.Errorf("clientName(%q) = %q, want %q", id, got, want)
		}
	}
	for line, want := range map[string]struct {
		name string
		idle time.Duration
	}{
		"id=3 addr=127.0.0.1:5 laddr=127.0.0.1:6 fd=8 name=chatd:A age=9 idle=4 flags=N db=0": {"chatd:A", 4 * time.Second},
		"id=3 addr=127.0.0.1:5 name= age=9 idle=0":                                            {"", 0},
		"id=3 name=chatd:B":        {"chatd:B", -1},
		"id=3 name=chatd:B idle=x": {"chatd:B", -1},
	} {
		if name, idle := clientFields(line); name != want.name || idle != want.idle {
			t.Errorf("clientFields(%q) = %q, %v; want %q, %v", line, name, idle, want.name, want.idle)
		}
	}
}
