package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/sink"
)

const sinkSecret = "sink-test-secret-0123456789"

// sinkBackend is a test backend of the message sink: it checks the secret,
// answers 503 while failing, and keeps what it acknowledged de-duplicated
// by (roomId, epoch, offset), as the README tells backends to, with each
// room's offsets in the order they first arrived.
type sinkBackend struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	failing  bool
	posts    int
	refused  int // POSTs answered 503
	badAuth  int
	dups     int
	msgs     map[string]sinkMsg  // by room/epoch/offset
	arrivals map[string][]uint64 // room/epoch -> offsets in first-arrival order
	changed  chan struct{}
}

type sinkMsg struct {
	RoomID   string         `json:"roomId"`
	Epoch    string         `json:"epoch"`
	Offset   uint64         `json:"offset"`
	StoredAt string         `json:"storedAt"`
	Message  map[string]any `json:"message"`
}

func newSinkBackend(t *testing.T) *sinkBackend {
	b := &sinkBackend{t: t, msgs: map[string]sinkMsg{}, arrivals: map[string][]uint64{}, changed: make(chan struct{}, 1)}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *sinkBackend) url() string { return b.srv.URL + "/sink" }

func (b *sinkBackend) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.posts++
	if r.Header.Get("Authorization") != "Bearer "+sinkSecret || r.Header.Get("X-Chatd-Hook") != "sink" ||
		r.Header.Get("X-Chatd-Node") == "" || r.Method != http.MethodPost || r.URL.Path != "/sink" {
		b.badAuth++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if b.failing || err != nil {
		b.refused++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var body struct {
		Node     string    `json:"node"`
		Messages []sinkMsg `json:"messages"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Node == "" || len(body.Messages) == 0 {
		b.t.Errorf("sink backend: bad batch %s: %v", raw, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, m := range body.Messages {
		k := fmt.Sprintf("%s/%s/%d", m.RoomID, m.Epoch, m.Offset)
		if _, ok := b.msgs[k]; ok {
			b.dups++
			continue
		}
		b.msgs[k] = m
		re := m.RoomID + "/" + m.Epoch
		b.arrivals[re] = append(b.arrivals[re], m.Offset)
	}
	select {
	case b.changed <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

func (b *sinkBackend) setFailing(f bool) {
	b.mu.Lock()
	b.failing = f
	b.mu.Unlock()
}

// has returns the message at room/offset (any epoch).
func (b *sinkBackend) has(room string, offset uint64) (sinkMsg, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.msgs {
		if m.RoomID == room && m.Offset == offset {
			return m, true
		}
	}
	return sinkMsg{}, false
}

// waitAll waits until the backend holds every message of want.
func (b *sinkBackend) waitAll(want []ackedMsg, d time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		missing := 0
		var first ackedMsg
		for _, a := range want {
			if _, ok := b.has(a.room, a.offset); !ok {
				if missing == 0 {
					first = a
				}
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("sink backend lacks %d of %d acknowledged messages after %v (first: %+v)", missing, len(want), d, first)
		}
		select {
		case <-b.changed:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// check verifies what the backend holds against the acknowledged
// publishes: each one exactly once (after de-duplication), with its
// content and user; each room's offsets arrived in increasing order.
func (b *sinkBackend) check(want []ackedMsg) {
	b.t.Helper()
	for _, a := range want {
		m, ok := b.has(a.room, a.offset)
		if !ok {
			b.t.Fatalf("missing %+v", a)
		}
		if m.Message["content"] != a.content || m.Message["type"] != "message" || (a.user != "" && m.Message["userId"] != a.user) {
			b.t.Fatalf("room %s offset %d: got %v, want %+v", a.room, a.offset, m.Message, a)
		}
		for _, h := range []string{"origin", "originConn", "excludeUserId", "offset", "epoch"} {
			if _, ok := m.Message[h]; ok {
				b.t.Fatalf("message carries the header member %s: %v", h, m.Message)
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for re, offs := range b.arrivals {
		for i := 1; i < len(offs); i++ {
			if offs[i] <= offs[i-1] {
				b.t.Fatalf("%s: offsets arrived out of order: %v", re, offs)
			}
		}
	}
	if b.badAuth > 0 {
		b.t.Fatalf("%d POSTs without the secret or headers", b.badAuth)
	}
}

// ackedMsg is a publish the publisher saw acknowledged (v2 ok, v1 stored,
// server API answer) with its place.
type ackedMsg struct {
	room    string
	offset  uint64
	content string
	user    string
}

// sinkConfig is a test-sized sink to b.
func sinkConfig(b *sinkBackend) sink.Config {
	return sink.Config{URL: b.url(), Secret: sinkSecret, Poll: 20 * time.Millisecond, LeaseTTL: 1500 * time.Millisecond,
		Timeout: time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, BatchMessages: 50}
}

func withSink(b *sinkBackend) func(*server.Config) {
	return func(c *server.Config) { c.Sink = sinkConfig(b) }
}
