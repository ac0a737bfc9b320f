package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/broker/memory"
	"github.com/gorilla/websocket"
)

// startServer runs a node on a free loopback port for the test.
func startServer(t testing.TB, mod func(*server.Config)) *server.Server {
	t.Helper()
	cfg := server.Config{Addr: "127.0.0.1:0", Loops: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	if cfg.Broker == nil {
		cfg.Broker = memory.New(memory.Options{})
	}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

// client is a test WebSocket client speaking the chat protocol.
type client struct {
	t      testing.TB
	ws     *websocket.Conn
	userID string
}

// msg is any server message, decoded loosely.
type msg map[string]any

func (m msg) str(k string) string { s, _ := m[k].(string); return s }
func (m msg) num(k string) int    { f, _ := m[k].(float64); return int(f) }

// connect dials the node and reads the connected greeting.
func connect(t testing.TB, s *server.Server) *client {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &client{t: t, ws: ws}
	m := c.expect("connected")
	if m.str("message") != "Connected" || len(m.str("userId")) != 10 {
		t.Fatalf("bad greeting %v", m)
	}
	c.userID = m.str("userId")
	return c
}

func (c *client) send(v any) {
	c.t.Helper()
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// read returns the next message, failing after 5 s.
func (c *client) read() msg {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, p, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m msg
	if err := json.Unmarshal(p, &m); err != nil {
		c.t.Fatalf("bad JSON %q: %v", p, err)
	}
	return m
}

// expect reads the next message and checks its type.
func (c *client) expect(typ string) msg {
	c.t.Helper()
	m := c.read()
	if m.str("type") != typ {
		c.t.Fatalf("got %v, want type %q", m, typ)
	}
	return m
}

// expectError reads an error reply and checks its text and code.
func (c *client) expectError(text, code string) {
	c.t.Helper()
	m := c.expect("error")
	if m.str("message") != text || m.str("code") != code {
		c.t.Fatalf("got error %q/%q, want %q/%q", m.str("message"), m.str("code"), text, code)
	}
}

// join joins a room and returns roomJoined.
func (c *client) join(room, user string) msg {
	c.t.Helper()
	c.send(map[string]string{"type": "join", "roomId": room, "username": user})
	m := c.expect("roomJoined")
	if m.str("roomId") != room || m.str("message") != "Joined room "+room {
		c.t.Fatalf("bad roomJoined %v", m)
	}
	return m
}

// freshRoomLists makes every room list request read the cluster (no shared
// list, no per-connection interval), for tests that check the list right
// after changing the rooms.
func freshRoomLists(c *server.Config) {
	c.RoomListRefresh = time.Nanosecond
	c.RoomListInterval = time.Nanosecond
}
