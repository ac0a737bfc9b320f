package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/gorilla/websocket"
)

// expectClose reads until the server closes and checks the close code.
func expectClose(t testing.TB, ws *websocket.Conn, code int) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("got %v, want close %d", err, code)
		}
		return
	}
}

func TestRateLimit(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.RateLimit, c.RateBurst, c.RateAbuseRefusals, c.RateAbuseWindow = 0.001, 5, 10, time.Minute
	})
	c := connect(t, s)
	c.join("rate", "r") // token 1
	for i := 0; i < 4; i++ {
		c.send(`{"type":"message","content":"ok"}`)
		c.expect("message")
	}
	for i := 0; i < 9; i++ {
		c.send(`{"type":"message","content":"too fast"}`)
		c.expectError("Too many messages, slow down", "rate_limited")
	}
	if m := scrape(t, s); m["chatd_rate_limit_refusals_total"] != 9 || m["chatd_rate_limit_closes_total"] != 0 {
		t.Fatalf("counters %v %v", m["chatd_rate_limit_refusals_total"], m["chatd_rate_limit_closes_total"])
	}
	c.send(`{"type":"message","content":"abuse"}`) // the 10th refusal closes
	expectClose(t, c.ws, 1008)
	if m := scrape(t, s); m["chatd_rate_limit_refusals_total"] != 10 || m["chatd_rate_limit_closes_total"] != 1 {
		t.Fatalf("counters %v %v", m["chatd_rate_limit_refusals_total"], m["chatd_rate_limit_closes_total"])
	}
}

func TestMaxConns(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.MaxConns = 2 })
	connect(t, s)
	b := connect(t, s)
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("third connection: %v %v", err, resp)
	}
	if m := scrape(t, s); m[`chatd_handshakes_failed_total{reason="full"}`] != 1 {
		t.Fatalf("full counter %v", m)
	}
	// A slot frees when a client leaves.
	b.ws.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/ws", nil)
		if err == nil {
			ws.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slot never freed")
		}
		time.Sleep(10 * time.Millisecond) // the server notices the close asynchronously
	}
}

func TestMessageTooBig(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.MaxMessageBytes = 1024 })
	c := connect(t, s)
	c.join("big", "b")
	c.send(`{"type":"message","content":"` + strings.Repeat("x", 990) + `"}`) // fits
	c.expect("message")
	c.send(`{"type":"message","content":"` + strings.Repeat("x", 1000) + `"}`)
	expectClose(t, c.ws, 1009)
	if m := scrape(t, s); m["chatd_protocol_error_closes_total"] != 1 {
		t.Fatalf("protocol error closes = %v, want 1", m["chatd_protocol_error_closes_total"])
	}
}

func TestOriginPolicy(t *testing.T) {
	dial := func(s *server.Server, origin string) int {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/", h)
		if err == nil {
			ws.Close()
			return 101
		}
		if resp == nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	def := startServer(t, nil)
	for origin, want := range map[string]int{
		"":                          101, // not a browser
		"http://127.0.0.1:3000":     101, // same host, another port (the reference client's dev server)
		"https://127.0.0.1":         101,
		"http://evil.example":       403,
		"http://127.0.0.1.evil.com": 403,
		"null":                      403,
	} {
		if got := dial(def, origin); got != want {
			t.Errorf("default policy, Origin %q: %d, want %d", origin, got, want)
		}
	}
	if m := scrape(t, def); m["chatd_origin_refusals_total"] != 3 || m[`chatd_handshakes_failed_total{reason="refused"}`] != 3 {
		t.Errorf("refusal counters %v", m)
	}
	listed := startServer(t, func(c *server.Config) { c.AllowedOrigins = []string{"https://chat.example"} })
	for origin, want := range map[string]int{"https://chat.example": 101, "http://127.0.0.1:3000": 403, "": 101} {
		if got := dial(listed, origin); got != want {
			t.Errorf("listed policy, Origin %q: %d, want %d", origin, got, want)
		}
	}
	all := startServer(t, func(c *server.Config) { c.AllowedOrigins = []string{"*"} })
	if got := dial(all, "http://evil.example"); got != 101 {
		t.Errorf("* policy: %d", got)
	}
}

// Only / and /ws accept upgrades.
func TestUpgradePaths(t *testing.T) {
	s := startServer(t, nil)
	for path, want := range map[string]int{"/": 101, "/ws": 101, "/ws?token=x": 101, "/other": 404} {
		ws, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+path, nil)
		got := 101
		if err != nil {
			if resp == nil {
				t.Fatal(err)
			}
			got = resp.StatusCode
		} else {
			ws.Close()
		}
		if got != want {
			t.Errorf("%s: %d want %d", path, got, want)
		}
	}
}

// Shutdown is idempotent: a second call returns at once.
func TestShutdownTwice(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.CloseTimeout = 100 * time.Millisecond })
	c := connect(t, s)
	c.join("bye", "b")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	expectClose(t, c.ws, 1001)
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("second Shutdown blocked")
	}
}

// /healthz answers while the process runs; /readyz turns 503 as soon as a
// drain begins (checked on the admin handler, since the main port stops
// accepting at that moment).
func TestHealthEndpoints(t *testing.T) {
	s := startServer(t, nil)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/nope": 404} {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	get := func(path string) int {
		resp, err := http.Get(admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/readyz") != 200 || get("/healthz") != 200 || get("/metrics") != 200 {
		t.Fatal("admin endpoints before the drain")
	}
	c := connect(t, s) // keeps the drain going for its window
	c.join("h", "h")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Drain(ctx, 2*time.Second)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for get("/readyz") != 503 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 while draining")
		}
		time.Sleep(5 * time.Millisecond) // the drain starts on another goroutine: nothing to await
	}
	if get("/healthz") != 200 {
		t.Fatal("/healthz failed while draining")
	}
	expectClose(t, c.ws, 1001)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// While a node drains, its clients' requests are refused with "draining"
// until their turn to be closed with 1001 comes. The broker holds the
// drain's leaves until every client has been refused, so that no client's
// turn comes before its request does: each of them is refused, exactly once.
func TestDrainRefusesRequests(t *testing.T) {
	const n = 10
	b := &heldLeaves{Broker: memory.New(memory.Options{}), arrived: make(chan struct{}, n)}
	s := startServer(t, func(c *server.Config) {
		c.CloseTimeout = 100 * time.Millisecond
		c.Broker = b
	})
	var cs []*client
	for i := 0; i < n; i++ {
		c := connect(t, s)
		c.join("drain", "u")
		cs = append(cs, c)
	}
	// Each member hears of every later joiner, before anything else.
	for i, c := range cs {
		for range n - 1 - i {
			c.expect("userJoined")
		}
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- s.Drain(ctx, time.Second)
	}()
	// The drain has begun once every member's leave reached the broker.
	for i := 0; i < n; i++ {
		select {
		case <-b.arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d leaves reached the broker", i, n)
		}
	}
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	resp, err := http.Get(admin.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("/readyz while draining: %d, want 503", resp.StatusCode)
	}
	for _, c := range cs {
		c.send(`{"type":"join","roomId":"again","username":"u"}`)
		c.expectError("Server shutting down", "draining")
	}
	if got := scrapeURL(t, admin.URL+"/metrics")[`chatd_error_replies_total{code="draining"}`]; got != n {
		t.Fatalf("%v draining refusals counted, want %d", got, n)
	}
	b.release()
	// Then each is closed with 1001, with nothing before it: the room was
	// empty on this node when the leaves were announced.
	for _, c := range cs {
		_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, p, err := c.ws.ReadMessage()
		var ce *websocket.CloseError
		if err == nil || !errors.As(err, &ce) || ce.Code != 1001 {
			t.Fatalf("got %s %v, want close 1001", p, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// heldLeaves is a broker whose Leave calls wait until release: a drain then
// stays in its first step (its members leaving) for as long as a test needs.
// arrived gets one value per Leave held.
type heldLeaves struct {
	broker.Broker
	arrived chan struct{}

	mu       sync.Mutex
	held     []func()
	released bool
}

func (b *heldLeaves) Leave(m broker.Member, done func(broker.Membership, error)) {
	b.mu.Lock()
	if !b.released {
		b.held = append(b.held, func() { b.Broker.Leave(m, done) })
		b.mu.Unlock()
		b.arrived <- struct{}{}
		return
	}
	b.mu.Unlock()
	b.Broker.Leave(m, done)
}

// release passes the held leaves on, and every later one at once.
func (b *heldLeaves) release() {
	b.mu.Lock()
	held := b.held
	b.held, b.released = nil, true
	b.mu.Unlock()
	for _, leave := range held {
		leave()
	}
}
