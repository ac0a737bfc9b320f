package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// v2client is a test client speaking protocol v2.
type v2client struct {
	t      testing.TB
	ws     *websocket.Conn
	userID string
	nextID int
}

// dialV2 connects with the chatd.v2 subprotocol (and no hello yet).
func dialV2(t testing.TB, addr string) *v2client {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"chatd.v2"}, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "chatd.v2" {
		t.Fatalf("subprotocol %q, want chatd.v2", got)
	}
	t.Cleanup(func() { ws.Close() })
	return &v2client{t: t, ws: ws}
}

// connectV2 connects and says hello as name.
func connectV2(t testing.TB, addr, name string) *v2client {
	t.Helper()
	c := dialV2(t, addr)
	ok := c.call(map[string]any{"type": "hello", "name": name})
	c.userID = ok.str("userId")
	if ok.str("name") != name || len(c.userID) != 10 || ok.str("node") == "" {
		t.Fatalf("hello ok %v", ok)
	}
	return c
}

func (c *v2client) send(v any) {
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

func (c *v2client) read() msg {
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
func (c *v2client) expect(typ string) msg {
	c.t.Helper()
	m := c.read()
	if m.str("type") != typ {
		c.t.Fatalf("got %v, want type %q", m, typ)
	}
	return m
}

// call sends a request with a fresh numeric id and returns its ok reply,
// failing on anything else first.
func (c *v2client) call(req map[string]any) msg {
	c.t.Helper()
	c.nextID++
	req["id"] = c.nextID
	c.send(req)
	m := c.read()
	if m.str("type") != "ok" || m.num("id") != c.nextID {
		c.t.Fatalf("%v: got %v, want ok with id %d", req, m, c.nextID)
	}
	return m
}

// callError sends a request with a fresh id and checks its error reply.
func (c *v2client) callError(req map[string]any, code string) msg {
	c.t.Helper()
	c.nextID++
	req["id"] = c.nextID
	c.send(req)
	m := c.read()
	if m.str("type") != "error" || m.num("id") != c.nextID || m.str("code") != code || m.str("message") == "" {
		c.t.Fatalf("%v: got %v, want error %s with id %d", req, m, code, c.nextID)
	}
	return m
}

func (c *v2client) join(room string) msg {
	c.t.Helper()
	return c.call(map[string]any{"type": "join", "roomId": room})
}

func (c *v2client) publish(room, content string) msg {
	c.t.Helper()
	return c.call(map[string]any{"type": "publish", "roomId": room, "content": content})
}

// sync proves every push queued for c before now has arrived: the reply to
// a request sent now follows them.
func (c *v2client) sync() {
	c.t.Helper()
	c.callError(map[string]any{"type": "leave", "roomId": "not-a-room-of-mine"}, "not_in_room")
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}
