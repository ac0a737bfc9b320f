package server_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/gorilla/websocket"
)

const hookSecret = "hook-secret-for-the-tests"

// hookBackend is a test application backend: one answer function per hook
// (nil: the hook is off), every call recorded.
type hookBackend struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string][]map[string]any // by hook: the decoded bodies
	bad   []string                    // calls that did not carry the secret or JSON

	connect, join, publish func(req map[string]any, r *http.Request) string
}

func newHookBackend(t *testing.T) *hookBackend {
	t.Helper()
	b := &hookBackend{calls: map[string][]map[string]any{}}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hook := strings.TrimPrefix(r.URL.Path, "/")
		raw, _ := io.ReadAll(r.Body)
		var req map[string]any
		err := json.Unmarshal(raw, &req)
		b.mu.Lock()
		if err != nil || r.Header.Get("Authorization") != "Bearer "+hookSecret || r.Header.Get("X-Chatd-Hook") != hook ||
			r.Method != http.MethodPost {
			b.bad = append(b.bad, hook+" "+string(raw))
		}
		b.calls[hook] = append(b.calls[hook], req)
		answer := map[string]func(map[string]any, *http.Request) string{
			"connect": b.connect, "join": b.join, "publish": b.publish}[hook]
		b.mu.Unlock()
		_, _ = io.WriteString(w, answer(req, r))
	}))
	t.Cleanup(func() {
		b.Close()
		if len(b.bad) > 0 {
			t.Errorf("calls without the secret, the hook header or a JSON body: %q", b.bad)
		}
	})
	return b
}

// requests returns the bodies of the calls of one hook so far.
func (b *hookBackend) requests(hook string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]map[string]any(nil), b.calls[hook]...)
}

// configure points the node's hooks at b (those with an answer function),
// then applies more.
func (b *hookBackend) configure(more ...func(*server.Config)) func(*server.Config) {
	return func(c *server.Config) {
		c.Hooks.Secret = hookSecret
		if b.connect != nil {
			c.Hooks.Connect.URL = b.URL + "/connect"
		}
		if b.join != nil {
			c.Hooks.Join.URL = b.URL + "/join"
		}
		if b.publish != nil {
			c.Hooks.Publish.URL = b.URL + "/publish"
		}
		c.RateLimit = -1
		for _, f := range more {
			f(c)
		}
	}
}

// always answers every call with body.
func always(body string) func(map[string]any, *http.Request) string {
	return func(map[string]any, *http.Request) string { return body }
}

// hold is a backend answer that holds its calls until released, or until
// chatd gives up on them, and reports each arrival.
type hold struct {
	arrived chan map[string]any
	release chan struct{}
	answer  string
}

func newHold(answer string) *hold {
	return &hold{arrived: make(chan map[string]any, 256), release: make(chan struct{}), answer: answer}
}

func (h *hold) fn(req map[string]any, r *http.Request) string {
	h.arrived <- req
	select {
	case <-h.release:
	case <-r.Context().Done():
	}
	return h.answer
}

// dialV1 opens a v1 connection with extra request headers and the URL's
// query, without reading anything.
func dialV1(t *testing.T, addr, query string, hdr http.Header) *client {
	t.Helper()
	u := "ws://" + addr + "/ws"
	if query != "" {
		u += "?" + query
	}
	ws, _, err := websocket.DefaultDialer.Dial(u, hdr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &client{t: t, ws: ws}
}

// dialV2With opens a v2 connection with extra request headers (no hello).
func dialV2With(t *testing.T, addr string, hdr http.Header) *v2client {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"chatd.v2"}, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/ws", hdr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &v2client{t: t, ws: ws}
}

// expectCloseWith reads until the server closes, and checks the close
// code and reason.
func expectCloseWith(t testing.TB, ws *websocket.Conn, code int, reason string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, p, err := ws.ReadMessage()
		if err == nil {
			t.Fatalf("got %s, want close %d", p, code)
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code || ce.Text != reason {
			t.Fatalf("got %v, want close %d %q", err, code, reason)
		}
		return
	}
}

// hookMetric is the value of one of the node's hook metrics.
func hookMetric(t testing.TB, s *server.Server, key string) float64 {
	t.Helper()
	return scrape(t, s)[key]
}
