package chatdclient

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// FakeChat is a small in-memory imitation of a chatd node speaking v2 (one
// node, history kept, no auth, no limits), so that the package's examples
// run in `go test` without a server. The client's behaviour against the real
// server is tested in server/sdk_go_test.go.
type FakeChat struct {
	srv   *httptest.Server
	mu    sync.Mutex
	rooms map[string]*fakeRoom
	users int
	clock time.Time
}

type fakeRoom struct {
	id, name string
	created  string
	members  map[*fakeChatConn]bool
	stored   []map[string]any
}

type fakeChatConn struct {
	ws          *websocket.Conn
	wmu         sync.Mutex
	userID, nam string
}

// StartFakeChat starts a FakeChat on a loopback port.
func StartFakeChat() *FakeChat {
	fc := &FakeChat{rooms: make(map[string]*fakeRoom), clock: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	fc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, http.Header{"Sec-Websocket-Protocol": {Subprotocol}})
		if err != nil {
			return
		}
		c := &fakeChatConn{ws: ws}
		for {
			_, p, err := ws.ReadMessage()
			if err != nil {
				break
			}
			var req request
			if json.Unmarshal(p, &req) == nil {
				fc.handle(c, &req)
			}
		}
		fc.mu.Lock()
		for _, r := range fc.rooms {
			if r.members[c] {
				delete(r.members, c)
				fc.fanout(r, c, map[string]any{"type": "left", "roomId": r.id, "userId": c.userID, "name": c.nam,
					"memberCount": len(r.members)})
			}
		}
		fc.mu.Unlock()
	}))
	return fc
}

// URL is the fake's WebSocket URL.
func (fc *FakeChat) URL() string { return "ws" + strings.TrimPrefix(fc.srv.URL, "http") + "/ws" }

// Close stops the fake.
func (fc *FakeChat) Close() { fc.srv.CloseClientConnections(); fc.srv.Close() }

func (c *fakeChatConn) send(v map[string]any) {
	b, _ := json.Marshal(v)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.WriteMessage(websocket.TextMessage, b)
}

// fanout sends v to the room's members but skip; caller holds fc.mu.
func (fc *FakeChat) fanout(r *fakeRoom, skip *fakeChatConn, v map[string]any) {
	for m := range r.members {
		if m != skip {
			m.send(v)
		}
	}
}

func (fc *FakeChat) handle(c *fakeChatConn, req *request) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	reply := func(v map[string]any) {
		if req.ID != 0 {
			v["type"], v["id"] = "ok", req.ID
			c.send(v)
		}
	}
	fail := func(code, msg string) {
		c.send(map[string]any{"type": "error", "id": req.ID, "code": code, "message": msg})
	}
	if req.Type != reqHello && c.userID == "" {
		fail("hello_first", "Say hello first")
		return
	}
	r := fc.rooms[req.RoomID]
	switch req.Type {
	case reqHello:
		fc.users++
		c.userID, c.nam = fmt.Sprintf("user-%d", fc.users), req.Name
		reply(map[string]any{"userId": c.userID, "name": c.nam, "node": "fake"})
	case reqJoin:
		if r == nil {
			name := req.RoomName
			if name == "" {
				name = req.RoomID
			}
			r = &fakeRoom{id: req.RoomID, name: name, members: make(map[*fakeChatConn]bool),
				created: fc.clock.Format("2006-01-02T15:04:05.000Z")}
			fc.rooms[req.RoomID] = r
		}
		if r.members[c] {
			fail(CodeAlreadyInRoom, "Already in room "+r.id)
			return
		}
		fc.fanout(r, c, map[string]any{"type": "joined", "roomId": r.id, "userId": c.userID, "name": c.nam,
			"memberCount": len(r.members) + 1})
		r.members[c] = true
		res := map[string]any{"roomId": r.id, "memberCount": len(r.members), "epoch": "e1",
			"offset": len(r.stored), "messages": r.stored[max(0, len(r.stored)-req.History):]}
		if req.Since != nil {
			res["messages"] = r.stored[min(int(req.Since.Offset), len(r.stored)):]
			res["recovered"] = req.Since.Epoch == "e1"
		}
		reply(res)
	case reqPublish:
		if r == nil || !r.members[c] {
			fail(CodeNotInRoom, "Not in room "+req.RoomID)
			return
		}
		fc.clock = fc.clock.Add(time.Second)
		m := map[string]any{"type": "message", "roomId": r.id, "offset": len(r.stored) + 1, "epoch": "e1",
			"content": req.Content, "userId": c.userID, "name": c.nam,
			"timestamp": fc.clock.Format("2006-01-02T15:04:05.000Z")}
		r.stored = append(r.stored, m)
		fc.fanout(r, c, m)
		reply(map[string]any{"offset": m["offset"], "timestamp": m["timestamp"]})
	case reqHistory:
		if r == nil || !r.members[c] {
			fail(CodeNotInRoom, "Not in room "+req.RoomID)
			return
		}
		end := len(r.stored)
		if req.Before > 0 {
			end = min(end, int(req.Before)-1)
		}
		limit := req.Limit
		if limit == 0 {
			limit = 100
		}
		reply(map[string]any{"messages": r.stored[max(0, end-limit):end]})
	case reqPresence:
		if r == nil || !r.members[c] {
			fail(CodeNotInRoom, "Not in room "+req.RoomID)
			return
		}
		var members []map[string]any
		for m := range r.members {
			members = append(members, map[string]any{"userId": m.userID, "name": m.nam})
		}
		sort.Slice(members, func(i, j int) bool { return members[i]["userId"].(string) < members[j]["userId"].(string) })
		reply(map[string]any{"roomId": r.id, "memberCount": len(r.members), "members": members})
	case reqTyping:
		if r != nil && r.members[c] {
			fc.fanout(r, c, map[string]any{"type": "typing", "roomId": r.id, "userId": c.userID, "name": c.nam})
		}
	case reqLeave:
		if r == nil || !r.members[c] {
			fail(CodeNotInRoom, "Not in room "+req.RoomID)
			return
		}
		delete(r.members, c)
		fc.fanout(r, c, map[string]any{"type": "left", "roomId": r.id, "userId": c.userID, "name": c.nam,
			"memberCount": len(r.members)})
		reply(map[string]any{})
	case reqRooms:
		var ids []string
		for id := range fc.rooms {
			if strings.HasPrefix(id, req.Prefix) && id > req.After {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		res := map[string]any{}
		if req.Limit > 0 && len(ids) > req.Limit {
			ids = ids[:req.Limit]
			res["next"] = ids[len(ids)-1]
		}
		var rooms []map[string]any
		for _, id := range ids {
			r := fc.rooms[id]
			rooms = append(rooms, map[string]any{"roomId": id, "name": r.name, "memberCount": len(r.members),
				"createdAt": r.created})
		}
		res["rooms"] = rooms
		reply(res)
	default:
		fail("unknown_type", "Unknown message type")
	}
}
