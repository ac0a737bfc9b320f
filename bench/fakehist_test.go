package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// fakeHistServer speaks protocol v2 (see the README) with history, as chatd will once it stores
// messages: every room numbers its messages 1, 2, 3, ... in one epoch, a publish's ok carries
// the offset, pushes carry it, and a join with since returns every message after it
// (recovered: true). Each room's publishes are numbered, pushed and answered under the room's
// lock, so every member sees a room's pushes in offset order, and a join is atomic with respect
// to them: nothing falls between the messages it returns and the pushes that follow.
//
// It is also the tests' oracle: it knows which pushes it dropped on purpose and which of those a
// later recovery returned, so it knows exactly how many messages each member can never have seen.
type fakeHistServer struct {
	srv *httptest.Server
	histOpts

	mu    sync.Mutex
	rooms map[string]*histRoom
	n     histCounts
	// unrecovered holds, per (member, room), the offsets of pushes dropped on purpose and not
	// returned by a recovery since: messages that member never sees.
	unrecovered map[memberRoom]map[int]bool
}

// histOpts are the fake's departures from a correct server with history.
type histOpts struct {
	// noHistory answers like chatd without history: joins with an empty epoch, offset 0 and no
	// recovery; pushes and publish replies without offset.
	noHistory bool
	// lossy drops the push of message offset o to member m when (o + m) % 7 == 0, except a
	// sender's last message to the room (so that the drain ends without waiting it out).
	lossy bool
	// forget answers every join with since recovered: false, without the missed messages.
	forget bool
	// resyncAt pushes resync to a room's members right after its message at this offset.
	resyncAt int
}

type memberRoom struct {
	member int
	room   string
}

// histCounts is what the fake server did, for the tests to compare with the client's account.
type histCounts struct {
	publishes      int // answered ok
	pushes         int // message pushes written
	dropped        int // pushes dropped on purpose (lossy)
	resyncs        int // resync pushes written
	sinceJoins     int // joins with since
	recovered      int // of those, answered recovered: true
	recoveredOther int // messages returned by recoveries, from others
	recoveredOwn   int // messages returned by recoveries, the joiner's own
}

type histRoom struct {
	mu      sync.Mutex // numbers, stores, pushes and answers one publish or join at a time
	log     []map[string]any
	members map[*histConn]bool
}

type histConn struct {
	ws     *websocket.Conn
	wmu    sync.Mutex
	id     string
	name   string
	member int // from the name u<i>; -1 otherwise
	hello  bool
	rooms  map[string]bool
}

const fakeEpoch = "fake-epoch-1"

func newFakeHistServer(t *testing.T, opts histOpts) *fakeHistServer {
	fs := &fakeHistServer{histOpts: opts, rooms: map[string]*histRoom{},
		unrecovered: map[memberRoom]map[int]bool{}}
	up := websocket.Upgrader{Subprotocols: []string{subprotocolV2}, CheckOrigin: func(*http.Request) bool { return true }}
	var nextID int
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !offers(r, subprotocolV2) {
			http.Error(w, "this fake speaks only chatd.v2", http.StatusBadRequest)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		fs.mu.Lock()
		nextID++
		c := &histConn{ws: ws, id: fmt.Sprintf("hist%06d", nextID), member: -1, rooms: map[string]bool{}}
		fs.mu.Unlock()
		fs.serve(c)
	}))
	t.Cleanup(fs.srv.Close)
	return fs
}

func (fs *fakeHistServer) url() string { return "ws" + strings.TrimPrefix(fs.srv.URL, "http") + "/ws" }

func (fs *fakeHistServer) counts() histCounts {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.n
}

// neverSeen is the number of (member, message) pairs dropped and never recovered.
func (fs *fakeHistServer) neverSeen() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	for _, offs := range fs.unrecovered {
		n += len(offs)
	}
	return n
}

func (c *histConn) send(v any) {
	b, _ := json.Marshal(v)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.WriteMessage(websocket.TextMessage, b)
}

func (c *histConn) reply(id json.RawMessage, fields map[string]any) {
	if id == nil {
		return
	}
	fields["id"] = id
	c.send(fields)
}

func (c *histConn) refuse(id json.RawMessage, code string) {
	c.send(map[string]any{"type": "error", "id": id, "code": code, "message": code})
}

type histRequest struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id"`
	Name    string          `json:"name"`
	RoomID  string          `json:"roomId"`
	Content string          `json:"content"`
	History int             `json:"history"`
	Since   *struct {
		Epoch  string `json:"epoch"`
		Offset int    `json:"offset"`
	} `json:"since"`
}

func (fs *fakeHistServer) serve(c *histConn) {
	defer func() {
		// An abrupt close and a polite one end the same way: out of every room.
		for id := range c.rooms {
			fs.leave(c, id)
		}
		c.ws.Close()
	}()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var req histRequest
		if err := json.Unmarshal(data, &req); err != nil {
			c.send(map[string]any{"type": "error", "code": "invalid_json", "message": "Invalid JSON format"})
			continue
		}
		if !c.hello && req.Type != "hello" {
			c.refuse(req.ID, "hello_first")
			continue
		}
		switch req.Type {
		case "hello":
			c.hello, c.name = true, req.Name
			if n, err := strconv.Atoi(strings.TrimPrefix(req.Name, "u")); err == nil && strings.HasPrefix(req.Name, "u") {
				c.member = n
			}
			c.reply(req.ID, map[string]any{"type": "ok", "userId": c.id, "name": c.name, "node": "fake-hist"})
		case "join":
			fs.join(c, &req)
		case "leave":
			if !c.rooms[req.RoomID] {
				c.refuse(req.ID, "not_in_room")
				continue
			}
			fs.leave(c, req.RoomID)
			c.reply(req.ID, map[string]any{"type": "ok"})
		case "publish":
			fs.publish(c, &req)
		default:
			c.refuse(req.ID, "unknown_type")
		}
	}
}

func (fs *fakeHistServer) room(id string) *histRoom {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	r := fs.rooms[id]
	if r == nil {
		r = &histRoom{members: map[*histConn]bool{}}
		fs.rooms[id] = r
	}
	return r
}

func (fs *fakeHistServer) join(c *histConn, req *histRequest) {
	if c.rooms[req.RoomID] {
		c.refuse(req.ID, "already_in_room")
		return
	}
	r := fs.room(req.RoomID)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members[c] = true
	c.rooms[req.RoomID] = true
	ok := map[string]any{"type": "ok", "roomId": req.RoomID, "memberCount": len(r.members), "messages": []any{}}
	if fs.noHistory {
		ok["epoch"], ok["offset"] = "", 0
	} else {
		ok["epoch"], ok["offset"] = fakeEpoch, len(r.log)
		if req.Since != nil {
			fs.recover(c, r, req, ok)
		}
	}
	c.reply(req.ID, ok)
	for o := range r.members {
		if o != c {
			o.send(map[string]any{"type": "joined", "roomId": req.RoomID, "userId": c.id, "name": c.name, "memberCount": len(r.members)})
		}
	}
}

// recover fills a since-join's result: every message after since in this epoch, or
// recovered: false.
func (fs *fakeHistServer) recover(c *histConn, r *histRoom, req *histRequest, ok map[string]any) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.n.sinceJoins++
	s := req.Since
	if s.Epoch != fakeEpoch || s.Offset < 0 || s.Offset > len(r.log) {
		ok["recovered"] = false
		return
	}
	if fs.forget {
		// What the member missed is gone for it.
		ok["recovered"] = false
		for _, m := range r.log[s.Offset:] {
			if m["name"] != c.name {
				fs.neverLocked(c.member, req.RoomID, m["offset"].(int))
			}
		}
		return
	}
	fs.n.recovered++
	ok["recovered"] = true
	msgs := r.log[s.Offset:]
	ok["messages"] = msgs
	for _, m := range msgs {
		if m["userId"] == c.id || m["name"] == c.name {
			fs.n.recoveredOwn++
		} else {
			fs.n.recoveredOther++
		}
		delete(fs.unrecovered[memberRoom{c.member, req.RoomID}], m["offset"].(int))
	}
}

// neverLocked notes that member will not see offset of room unless a recovery returns it.
func (fs *fakeHistServer) neverLocked(member int, room string, offset int) {
	key := memberRoom{member, room}
	if fs.unrecovered[key] == nil {
		fs.unrecovered[key] = map[int]bool{}
	}
	fs.unrecovered[key][offset] = true
}

func (fs *fakeHistServer) leave(c *histConn, id string) {
	r := fs.room(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.members, c)
	delete(c.rooms, id)
	for o := range r.members {
		o.send(map[string]any{"type": "left", "roomId": id, "userId": c.id, "name": c.name, "memberCount": len(r.members)})
	}
}

func (fs *fakeHistServer) publish(c *histConn, req *histRequest) {
	if !c.rooms[req.RoomID] {
		c.refuse(req.ID, "not_in_room")
		return
	}
	r := fs.room(req.RoomID)
	r.mu.Lock()
	defer r.mu.Unlock()
	offset := len(r.log) + 1
	msg := map[string]any{"type": "message", "roomId": req.RoomID, "offset": offset, "content": req.Content,
		"userId": c.id, "name": c.name, "timestamp": "2026-11-26T19:41:01.978Z"}
	if fs.noHistory {
		delete(msg, "offset")
	} else {
		r.log = append(r.log, msg)
	}
	var ct content
	last := parseContent([]byte(req.Content), &ct) && ct.last
	for o := range r.members {
		if o == c {
			continue
		}
		if fs.lossy && !last && o.member >= 0 && (offset+o.member)%7 == 0 {
			fs.mu.Lock()
			fs.n.dropped++
			fs.neverLocked(o.member, req.RoomID, offset)
			fs.mu.Unlock()
			continue
		}
		o.send(msg)
		fs.mu.Lock()
		fs.n.pushes++
		fs.mu.Unlock()
	}
	if offset == fs.resyncAt {
		for o := range r.members {
			o.send(map[string]any{"type": "resync", "roomId": req.RoomID, "reason": "test"})
			fs.mu.Lock()
			fs.n.resyncs++
			fs.mu.Unlock()
		}
	}
	okReply := map[string]any{"type": "ok", "timestamp": "2026-11-26T19:41:01.978Z"}
	if !fs.noHistory {
		okReply["offset"] = offset
	}
	fs.mu.Lock()
	fs.n.publishes++
	fs.mu.Unlock()
	c.reply(req.ID, okReply)
}
