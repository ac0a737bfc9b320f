package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const testSecret = "0123456789abcdef-secret"

// backend records what it acknowledges, de-duplicated by (room, epoch,
// offset) as the README tells backends to.
type backend struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	fail   func(n int) int // status for the n-th POST (from 1); 0: 200
	posts  int
	seen   map[string]bool
	rooms  map[string][]uint64 // acknowledged offsets in arrival order, duplicates dropped
	dups   int
	header http.Header
	got    chan struct{}
}

func newBackend(t *testing.T) *backend {
	b := &backend{t: t, seen: map[string]bool{}, rooms: map[string][]uint64{}, got: make(chan struct{}, 1000)}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

type batchBody struct {
	Node     string `json:"node"`
	Messages []struct {
		RoomID  string          `json:"roomId"`
		Epoch   string          `json:"epoch"`
		Offset  uint64          `json:"offset"`
		Message json.RawMessage `json:"message"`
	} `json:"messages"`
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.posts++
	b.header = r.Header.Clone()
	status := 0
	if b.fail != nil {
		status = b.fail(b.posts)
	}
	if status != 0 {
		b.mu.Unlock()
		w.WriteHeader(status)
		return
	}
	var body batchBody
	if err := json.Unmarshal(raw, &body); err != nil {
		b.mu.Unlock()
		b.t.Errorf("backend: bad body %s: %v", raw, err)
		w.WriteHeader(400)
		return
	}
	for _, m := range body.Messages {
		k := fmt.Sprintf("%s/%s/%d", m.RoomID, m.Epoch, m.Offset)
		if b.seen[k] {
			b.dups++
			continue
		}
		b.seen[k] = true
		b.rooms[m.RoomID] = append(b.rooms[m.RoomID], m.Offset)
	}
	b.mu.Unlock()
	select {
	case b.got <- struct{}{}:
	default:
	}
	w.WriteHeader(204)
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

// waitCount waits until the backend holds n messages.
func (b *backend) waitCount(n int, d time.Duration) {
	b.t.Helper()
	deadline := time.After(d)
	for b.count() < n {
		select {
		case <-b.got:
		case <-deadline:
			b.t.Fatalf("backend holds %d messages after %v, want %d", b.count(), d, n)
		}
	}
}

// inOrder checks that each room's offsets arrived as 1..n in order.
func (b *backend) inOrder(rooms map[string]int) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for room, n := range rooms {
		offs := b.rooms[room]
		if len(offs) != n {
			b.t.Fatalf("room %s: %d messages, want %d", room, len(offs), n)
		}
		for i, o := range offs {
			if o != uint64(i+1) {
				b.t.Fatalf("room %s: message %d has offset %d (order %v)", room, i, o, offs)
			}
		}
	}
}

func payload(off uint64) string {
	return fmt.Sprintf(`{"type":"message","content":"m%d","username":"a","userId":"u","timestamp":"t","offset":%d,"epoch":"e"}`, off, off)
}

func testConfig(url string) Config {
	return Config{URL: url, Secret: testSecret, NodeID: "n1", MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, Poll: 5 * time.Millisecond, LeaseTTL: time.Second, Timeout: 500 * time.Millisecond,
		BatchMessages: 7, Logger: slog.New(slog.DiscardHandler)}
}

func startSink(t *testing.T, cfg Config, q Queue) (*Sink, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, q, reg)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		s.Close(ctx)
	})
	return s, reg
}

// Every message of the memory queue reaches the backend once after
// de-duplication, in offset order per room, through a backend that fails
// (5xx) for a while and then recovers; the headers carry the secret.
func TestSinkMemoryDeliversThroughFailures(t *testing.T) {
	b := newBackend(t)
	b.fail = func(n int) int {
		if n%3 == 0 || (n > 4 && n < 12) {
			return 503
		}
		return 0
	}
	q := NewMemory(0, 0)
	s, reg := startSink(t, testConfig(b.srv.URL), q)
	rooms := map[string]int{"a": 0, "b": 0, "c": 0}
	now := time.Now()
	for i := range 150 {
		room := []string{"a", "b", "c"}[i%3]
		rooms[room]++
		q.Append(room, "e", uint64(rooms[room]), now, payload(uint64(rooms[room])))
	}
	b.waitCount(150, 10*time.Second)
	b.inOrder(rooms)
	waitFor(t, func() bool { return q.Len() == 0 }, "the queue to empty")
	if h := b.header.Get("Authorization"); h != "Bearer "+testSecret {
		t.Fatalf("Authorization %q", h)
	}
	if b.header.Get("X-Chatd-Node") != "n1" || b.header.Get("X-Chatd-Hook") != "sink" {
		t.Fatalf("headers %v", b.header)
	}
	if f := value(s.m.posts.WithLabelValues(postFailed)); f < 7 {
		t.Fatalf("failed posts %v, want at least 7", f)
	}
	if d := value(s.m.delivered); d < 150 {
		t.Fatalf("delivered %v, want at least 150", d)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"chatd_sink_backlog", "chatd_sink_lag_seconds", "chatd_sink_shards_held",
		"chatd_sink_delivered_total", "chatd_sink_dropped_total", "chatd_sink_posts_total", "chatd_sink_post_duration_seconds"} {
		if !names[n] {
			t.Errorf("metric %s not registered", n)
		}
	}
}

// A full memory queue refuses messages; the sink counts them in
// chatd_sink_dropped_total{reason="backlog"}.
func TestSinkBacklogBoundCounted(t *testing.T) {
	b := newBackend(t)
	hold := make(chan struct{})
	b.fail = func(int) int { <-hold; return 0 }
	q := NewMemory(5, 0)
	now := time.Now()
	for i := range 8 {
		ok := q.Append("r", "e", uint64(i+1), now, payload(uint64(i+1)))
		if ok != (i < 5) {
			t.Fatalf("append %d: %v", i+1, ok)
		}
	}
	s, _ := startSink(t, testConfig(b.srv.URL), q)
	waitFor(t, func() bool { return value(s.m.dropped.WithLabelValues(dropBacklog)) == 3 }, "3 drops counted")
	close(hold)
	b.waitCount(5, 5*time.Second)
	b.inOrder(map[string]int{"r": 5})
	// The bytes bound too.
	q2 := NewMemory(100, 3*(len(payload(1))+1+entryCost))
	for i := range 4 {
		if ok := q2.Append("r", "e", uint64(i+1), now, payload(uint64(i+1))); ok != (i < 3) {
			t.Fatalf("bytes bound, append %d: %v", i+1, ok)
		}
	}
	if n, _ := q2.TakeDropped(context.Background(), 0); n != 1 {
		t.Fatalf("bytes bound: dropped %d, want 1", n)
	}
	// Acknowledging frees the bytes.
	es, _, _ := q2.Read(context.Background(), 0, 10)
	_ = q2.Ack(context.Background(), 0, es[:2])
	if !q2.Append("r", "e", 5, now, payload(5)) || q2.Len() != 2 {
		t.Fatalf("after an ack: len %d", q2.Len())
	}
}

// Messages older than MaxAge are dropped without being posted, counted in
// chatd_sink_dropped_total{reason="age"}; the younger ones go out.
func TestSinkAgeBound(t *testing.T) {
	b := newBackend(t)
	q := NewMemory(0, 0)
	old := time.Now().Add(-2 * time.Hour)
	for i := range 4 {
		q.Append("r", "e", uint64(i+1), old, payload(uint64(i+1)))
	}
	q.Append("r", "e", 5, time.Now(), payload(5))
	cfg := testConfig(b.srv.URL)
	cfg.MaxAge = time.Hour
	s, _ := startSink(t, cfg, q)
	b.waitCount(1, 5*time.Second)
	if got := value(s.m.dropped.WithLabelValues(dropAge)); got != 4 {
		t.Fatalf("age drops %v, want 4", got)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if offs := b.rooms["r"]; len(offs) != 1 || offs[0] != 5 {
		t.Fatalf("delivered %v, want [5]", offs)
	}
}

// The lag gauge is the age of the oldest message waiting; the backlog its
// count.
func TestSinkLagMetric(t *testing.T) {
	b := newBackend(t)
	b.fail = func(int) int { return 500 }
	q := NewMemory(0, 0)
	q.Append("r", "e", 1, time.Now().Add(-30*time.Second), payload(1))
	q.Append("r", "e", 2, time.Now(), payload(2))
	s, _ := startSink(t, testConfig(b.srv.URL), q)
	waitFor(t, func() bool { st := s.Stats(); return st.Backlog == 2 && st.Held == 1 }, "the backlog to be read")
	if st := s.Stats(); st.Lag < 30*time.Second || st.Lag > time.Minute {
		t.Fatalf("lag %v, want about 30s", st.Lag)
	}
}

// A redirect is a failure (the secret is not sent elsewhere); so is a
// backend that does not answer within the timeout.
func TestSinkRedirectAndTimeoutFail(t *testing.T) {
	other := newBackend(t)
	redir := httptest.NewServer(http.RedirectHandler(other.srv.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redir.Close)
	q := NewMemory(0, 0)
	q.Append("r", "e", 1, time.Now(), payload(1))
	s, _ := startSink(t, testConfig(redir.URL), q)
	waitFor(t, func() bool { return value(s.m.posts.WithLabelValues(postFailed)) >= 2 }, "failed posts")
	if other.count() != 0 || q.Len() != 1 {
		t.Fatalf("redirect followed: other got %d, queue %d", other.count(), q.Len())
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	q2 := NewMemory(0, 0)
	q2.Append("r", "e", 1, time.Now(), payload(1))
	cfg := testConfig(slow.URL)
	cfg.Timeout = 50 * time.Millisecond
	s2, _ := startSink(t, cfg, q2)
	waitFor(t, func() bool { return value(s2.m.posts.WithLabelValues(postFailed)) >= 2 }, "timed-out posts")
	if q2.Len() != 1 {
		t.Fatalf("a timed-out batch was removed")
	}
}

// Close flushes a memory queue before it returns (a graceful stop loses
// nothing), within its context.
func TestSinkCloseFlushesMemory(t *testing.T) {
	b := newBackend(t)
	q := NewMemory(0, 0)
	reg := prometheus.NewRegistry()
	cfg := testConfig(b.srv.URL)
	cfg.Poll, cfg.LeaseTTL = 20*time.Second, time.Minute // only the flush can empty it in time
	s, err := New(cfg, q, reg)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	waitFor(t, func() bool { return s.Stats().Held == 1 }, "the shard held")
	for i := range 20 {
		q.Append("r", "e", uint64(i+1), time.Now(), payload(uint64(i+1)))
	}
	// The worker sleeps in its hour-long poll: Close wakes it and waits
	// until the queue is empty.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Close(ctx)
	if q.Len() != 0 || b.count() != 20 {
		t.Fatalf("after Close: queue %d, backend %d", q.Len(), b.count())
	}
	b.inOrder(map[string]int{"r": 20})

	// A backend that refuses everything: Close gives up at its deadline,
	// leaving the queue as it is.
	b.fail = func(int) int { return 500 }
	q2 := NewMemory(0, 0)
	var logs strings.Builder
	var logMu sync.Mutex
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	s2, err := New(cfg, q2, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	q2.Append("r", "e", 1, time.Now(), payload(1))
	s2.Start()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	began := time.Now()
	s2.Close(ctx2)
	if q2.Len() != 1 || time.Since(began) > 2*time.Second {
		t.Fatalf("Close with a failing backend: queue %d after %v", q2.Len(), time.Since(began))
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), `level=ERROR msg="sink: messages lost at shutdown`) ||
		!strings.Contains(logs.String(), "messages=1") {
		t.Fatalf("no error log of the message lost: %s", logs.String())
	}
}

func TestConfigCheck(t *testing.T) {
	ok := testConfig("http://127.0.0.1:1/sink").withDefaults()
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"scheme":    func(c *Config) { c.URL = "ftp://x/" },
		"user info": func(c *Config) { c.URL = "http://u:p@x/" },
		"no host":   func(c *Config) { c.URL = "http:///x" },
		"secret":    func(c *Config) { c.Secret = "short" },
		"lease":     func(c *Config) { c.LeaseTTL = c.Timeout },
		"batch":     func(c *Config) { c.BatchMessages = -1 },
		"backoff":   func(c *Config) { c.MaxBackoff = c.MinBackoff / 2 },
	} {
		c := ok
		mod(&c)
		if err := c.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(ok, nil, prometheus.NewRegistry()); err == nil {
		t.Fatal("no queue accepted")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// value reads a counter.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// A batch the backend stored but whose answer chatd never got (here: the
// answer came after the timeout) is sent again: the backend sees it twice
// and de-duplicates it; nothing is lost, and the order holds.
func TestSinkAnswerLostSendsAgain(t *testing.T) {
	b := newBackend(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.serve(w, r) // stored (the status goes out when the handler returns)
		if calls.Add(1) == 1 {
			time.Sleep(300 * time.Millisecond)
		}
	}))
	t.Cleanup(srv.Close)
	q := NewMemory(0, 0)
	for i := range 5 {
		q.Append("r", "e", uint64(i+1), time.Now(), payload(uint64(i+1)))
	}
	cfg := testConfig(srv.URL)
	cfg.Timeout = 100 * time.Millisecond
	s, _ := startSink(t, cfg, q)
	waitFor(t, func() bool { return q.Len() == 0 }, "the queue to empty")
	b.inOrder(map[string]int{"r": 5})
	b.mu.Lock()
	dups := b.dups
	b.mu.Unlock()
	if dups != 5 || value(s.m.posts.WithLabelValues(postFailed)) != 1 {
		t.Fatalf("duplicates %d (want the 5 of the batch sent again), failed posts %v", dups, value(s.m.posts.WithLabelValues(postFailed)))
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
