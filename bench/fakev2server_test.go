package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeV2Server speaks just enough of protocol v2 (see the README) for bench/k6/fanout-v2.js, until
// chatd speaks it: the chatd.v2 subprotocol, hello first, join (several rooms per connection),
// publish, and one reply per request with an id. A `message` push goes to every member
// connection of the room but the publishing one. It counts what it wrote, as the test's oracle.
//
// With misbehave set it breaks the contract on a fixed pattern, so the test can see the script
// notice: it pushes each message back to its publisher too, drops every 5th push, and never
// answers the 3rd publish of each connection.
type fakeV2Server struct {
	srv       *httptest.Server
	misbehave bool

	mu         sync.Mutex
	rooms      map[string]map[*fakeV2Conn]bool
	offsets    map[string]int
	nextID     int
	considered int // pushes considered for dropping (misbehave)
	publishes  int // publish requests answered with ok
	pushes     int // message pushes written to connections other than the publisher
	echoes     int // message pushes written to the publisher (misbehave)
	dropped    int // message pushes not written (misbehave)
}

type fakeV2Conn struct {
	ws        *websocket.Conn
	wmu       sync.Mutex
	id, name  string
	hello     bool
	published int
}

func newFakeV2Server(t *testing.T, misbehave bool) *fakeV2Server {
	fs := &fakeV2Server{misbehave: misbehave, rooms: map[string]map[*fakeV2Conn]bool{}, offsets: map[string]int{}}
	up := websocket.Upgrader{Subprotocols: []string{"chatd.v2"}, CheckOrigin: func(*http.Request) bool { return true }}
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A client that does not offer chatd.v2 would get v1 from chatd; this fake has no v1.
		if !offers(r, "chatd.v2") {
			http.Error(w, "this fake speaks only chatd.v2", http.StatusBadRequest)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		fs.serve(ws)
	}))
	t.Cleanup(fs.srv.Close)
	return fs
}

func offers(r *http.Request, proto string) bool {
	for _, p := range websocket.Subprotocols(r) {
		if p == proto {
			return true
		}
	}
	return false
}

func (fs *fakeV2Server) url() string { return "ws" + strings.TrimPrefix(fs.srv.URL, "http") + "/ws" }

func (c *fakeV2Conn) send(v any) {
	b, _ := json.Marshal(v)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.WriteMessage(websocket.TextMessage, b)
}

type v2Request struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id"`
	Name    string          `json:"name"`
	RoomID  string          `json:"roomId"`
	Content string          `json:"content"`
}

// reply sends the one reply a request with an id gets; a request without id gets none.
func (c *fakeV2Conn) reply(req *v2Request, fields map[string]any) {
	if req.ID == nil {
		return
	}
	fields["id"] = req.ID
	c.send(fields)
}

func (c *fakeV2Conn) refuse(req *v2Request, code, msg string) {
	c.send(map[string]any{"type": "error", "id": req.ID, "code": code, "message": msg})
}

func (fs *fakeV2Server) serve(ws *websocket.Conn) {
	fs.mu.Lock()
	fs.nextID++
	c := &fakeV2Conn{ws: ws, id: fmt.Sprintf("v2id%06d", fs.nextID)}
	fs.mu.Unlock()
	defer func() {
		fs.mu.Lock()
		for _, members := range fs.rooms {
			delete(members, c)
		}
		fs.mu.Unlock()
		ws.Close()
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var req v2Request
		if err := json.Unmarshal(data, &req); err != nil {
			c.send(map[string]any{"type": "error", "code": "bad_json", "message": "Invalid JSON format"})
			continue
		}
		if !c.hello && req.Type != "hello" {
			c.refuse(&req, "hello_first", "hello must be the first request")
			continue
		}
		switch req.Type {
		case "hello":
			c.hello, c.name = true, req.Name
			c.reply(&req, map[string]any{"type": "ok", "userId": c.id, "name": c.name, "node": "fake-v2"})
		case "join":
			fs.join(c, &req)
		case "publish":
			fs.publish(c, &req)
		default:
			c.refuse(&req, "unknown_type", "Unknown message type")
		}
	}
}

func (fs *fakeV2Server) join(c *fakeV2Conn, req *v2Request) {
	fs.mu.Lock()
	if fs.rooms[req.RoomID] == nil {
		fs.rooms[req.RoomID] = map[*fakeV2Conn]bool{}
	}
	fs.rooms[req.RoomID][c] = true
	count := len(fs.rooms[req.RoomID])
	var others []*fakeV2Conn
	for o := range fs.rooms[req.RoomID] {
		if o != c {
			others = append(others, o)
		}
	}
	fs.mu.Unlock()
	c.reply(req, map[string]any{"type": "ok", "roomId": req.RoomID, "memberCount": count, "epoch": "fake", "offset": 0, "messages": []any{}})
	for _, o := range others {
		o.send(map[string]any{"type": "joined", "roomId": req.RoomID, "userId": c.id, "name": c.name, "memberCount": count})
	}
}

// publish pushes to the room's other members from the publisher's own goroutine, so each
// receiver gets one publisher's messages in the order they were published.
func (fs *fakeV2Server) publish(c *fakeV2Conn, req *v2Request) {
	c.published++
	answer := !(fs.misbehave && c.published == 3)
	fs.mu.Lock()
	members := fs.rooms[req.RoomID]
	if !members[c] {
		fs.mu.Unlock()
		c.refuse(req, "not_in_room", "join the room first")
		return
	}
	fs.offsets[req.RoomID]++
	offset := fs.offsets[req.RoomID]
	var to []*fakeV2Conn
	for o := range members {
		if o == c && !fs.misbehave {
			continue
		}
		if fs.misbehave {
			fs.considered++
			if fs.considered%5 == 0 {
				fs.dropped++
				continue
			}
		}
		if o == c {
			fs.echoes++
		} else {
			fs.pushes++
		}
		to = append(to, o)
	}
	if answer {
		fs.publishes++
	}
	fs.mu.Unlock()
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	push := map[string]any{"type": "message", "roomId": req.RoomID, "offset": offset, "content": req.Content,
		"userId": c.id, "name": c.name, "timestamp": ts}
	for _, o := range to {
		o.send(push)
	}
	if answer {
		c.reply(req, map[string]any{"type": "ok", "offset": offset, "timestamp": ts})
	}
}

func (fs *fakeV2Server) counts() (publishes, pushes, echoes, dropped int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.publishes, fs.pushes, fs.echoes, fs.dropped
}
