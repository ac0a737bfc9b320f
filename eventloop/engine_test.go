package eventloop_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/gorilla/websocket"
)

// echoHandler echoes every message and records what happened.
type echoHandler struct {
	mu      sync.Mutex
	opened  []*eventloop.Conn
	closes  []eventloop.CloseCode
	closeCh chan eventloop.CloseCode
	openCh  chan *eventloop.Conn
	refuse  func(r *eventloop.Request) *eventloop.Response
	onMsg   func(c *eventloop.Conn, p []byte, binary bool)
}

func newEchoHandler() *echoHandler {
	return &echoHandler{closeCh: make(chan eventloop.CloseCode, 100000), openCh: make(chan *eventloop.Conn, 100000)}
}

func (h *echoHandler) Upgrade(c *eventloop.Conn, r *eventloop.Request) *eventloop.Response {
	if h.refuse != nil {
		return h.refuse(r)
	}
	return nil
}

func (h *echoHandler) HTTP(r *eventloop.Request) *eventloop.Response {
	if r.Path == "/hello" {
		return &eventloop.Response{Status: 200, Body: []byte("hello " + r.Method)}
	}
	return nil
}

func (h *echoHandler) Open(c *eventloop.Conn) {
	h.mu.Lock()
	h.opened = append(h.opened, c)
	h.mu.Unlock()
	h.openCh <- c
}

func (h *echoHandler) Message(c *eventloop.Conn, p []byte, binary bool) {
	if h.onMsg != nil {
		h.onMsg(c, p, binary)
		return
	}
	op := byte(0x1)
	if binary {
		op = 0x2
	}
	_ = c.Write(eventloop.AppendFrame(nil, wsOp(op), p))
}

func (h *echoHandler) Close(c *eventloop.Conn, code eventloop.CloseCode) {
	h.mu.Lock()
	h.closes = append(h.closes, code)
	h.mu.Unlock()
	h.closeCh <- code
}

// startEngine runs an engine on a free loopback port for the test.
func startEngine(t testing.TB, h eventloop.Handler, mod func(*eventloop.Config)) *eventloop.Engine {
	t.Helper()
	cfg := eventloop.Config{Addr: "127.0.0.1:0", Loops: 2, Handler: h,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	e, err := eventloop.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	return e
}

func dial(t testing.TB, e *eventloop.Engine) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+e.Addr()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func TestEchoTextAndBinary(t *testing.T) {
	e := startEngine(t, newEchoHandler(), nil)
	ws := dial(t, e)
	for _, tc := range []struct {
		typ  int
		data string
	}{{websocket.TextMessage, "hello"}, {websocket.BinaryMessage, "\x00\x01\xff"}, {websocket.TextMessage, ""},
		{websocket.TextMessage, "héllo 👋"}} {
		if err := ws.WriteMessage(tc.typ, []byte(tc.data)); err != nil {
			t.Fatal(err)
		}
		typ, p, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if typ != tc.typ || string(p) != tc.data {
			t.Fatalf("got %d %q, want %d %q", typ, p, tc.typ, tc.data)
		}
	}
}

func TestPlainHTTP(t *testing.T) {
	e := startEngine(t, newEchoHandler(), nil)
	for _, tc := range []struct{ req, wantStatus, wantBody string }{
		{"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK", "hello GET"},
		{"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 Not Found", "not found"},
		{"HEAD /hello HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK", ""},
	} {
		status, body := rawRequest(t, e, tc.req)
		if status != tc.wantStatus || strings.TrimSpace(body) != tc.wantBody {
			t.Errorf("%q: got %q %q, want %q %q", tc.req, status, body, tc.wantStatus, tc.wantBody)
		}
	}
}

// rawRequest sends raw bytes and returns the status line and body of the
// response, reading until the server closes.
func rawRequest(t testing.TB, e *eventloop.Engine, req string) (string, string) {
	t.Helper()
	c, err := net.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read: %v", err)
	}
	head, body, _ := strings.Cut(string(all), "\r\n\r\n")
	status, _, _ := strings.Cut(head, "\r\n")
	return status, body
}

var _ = bufio.NewReader
