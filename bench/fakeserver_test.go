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
	"time"

	"github.com/gorilla/websocket"
)

// fakeServer speaks the chat protocol (the README's protocol v1) just well enough for the load generator, and
// misdelivers on a fixed pattern so the accounting can be checked exactly. It records every chat
// message it wrote to each member, in order: the test's oracle counts from that record.
//
// Misdelivery, per (receiver r, sender s, seq q) of a non-last message, decided from the content
// (each kind only when its fault is set):
//   - drop       when (s + q + r) % 7 == 0
//   - duplicate  when (s + 2q + r) % 11 == 0 (written twice, back to back)
//   - hold       when (q + r) % 5 == 1 and nothing is held for (r, s): written right after the
//     next message from s to r that is written (so it arrives late: out of order)
//
// A sender's last message ('L') is never misdelivered and flushes what is held before it, so it is
// the last thing r gets from s — the per-sender order a real server guarantees and that the
// drain relies on.
type fakeServer struct {
	t      *testing.T
	srv    *httptest.Server
	faults fault

	mu      sync.Mutex
	rooms   map[string]map[*fakeConn]bool
	nextID  int
	written map[int][][2]int // receiver member index -> (sender, seq) in write order
	pings   int
	pongs   int

	// joinDelay holds every roomJoined this long (a slow server); unjoined counts the upgraded
	// connections not yet answered roomJoined, maxUnjoined the most there ever were at once.
	joinDelay   time.Duration
	unjoined    int
	maxUnjoined int
}

type fakeConn struct {
	ws       *websocket.Conn
	wmu      sync.Mutex
	id       string
	member   int  // from username u<i>; -1 for churners
	answered bool // a roomJoined was sent (guarded by fakeServer.mu)
	name     string
	room     string
	hmu      sync.Mutex     // guards held/heldQ; each (receiver, sender) entry is used by one sender goroutine
	held     map[int][]byte // sender -> held frame payload
	heldQ    map[int]int
}

// fault is a set of the fake server's kinds of misdelivery.
type fault uint8

const (
	faultDrop  fault = 1 << iota // some messages never written (lost)
	faultDup                     // some written twice (duplicated)
	faultHold                    // some written after a later one of the same sender (out of order)
	faultsAll        = faultDrop | faultDup | faultHold
	faultsNone fault = 0
)

// newFakeServer starts a fake server that misdelivers every way when misbehave is set.
func newFakeServer(t *testing.T, misbehave bool) *fakeServer {
	if misbehave {
		return newFakeServerWith(t, faultsAll)
	}
	return newFakeServerWith(t, faultsNone)
}

// newFakeServerWith starts a fake server that misdelivers the ways faults names.
func newFakeServerWith(t *testing.T, faults fault) *fakeServer {
	fs := &fakeServer{t: t, faults: faults, rooms: map[string]map[*fakeConn]bool{}, written: map[int][][2]int{}}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		fs.serve(ws)
	}))
	t.Cleanup(fs.srv.Close)
	return fs
}

func (fs *fakeServer) url() string { return "ws" + strings.TrimPrefix(fs.srv.URL, "http") + "/ws" }

func (c *fakeConn) send(v any) {
	b, _ := json.Marshal(v)
	c.sendRaw(b)
}

func (c *fakeConn) sendRaw(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.WriteMessage(websocket.TextMessage, b)
}

func (fs *fakeServer) serve(ws *websocket.Conn) {
	fs.mu.Lock()
	fs.nextID++
	fs.unjoined++
	fs.maxUnjoined = max(fs.maxUnjoined, fs.unjoined)
	c := &fakeConn{ws: ws, id: fmt.Sprintf("id%08d", fs.nextID), member: -1, held: map[int][]byte{}, heldQ: map[int]int{}}
	fs.mu.Unlock()
	ws.SetPongHandler(func(string) error { fs.mu.Lock(); fs.pongs++; fs.mu.Unlock(); return nil })
	c.send(map[string]any{"type": "connected", "message": "Connected", "userId": c.id})
	defer func() {
		fs.leave(c)
		ws.Close()
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var m struct {
			Type, RoomID, Username, Content string
		}
		if err := json.Unmarshal(data, &m); err != nil {
			c.send(map[string]any{"type": "error", "message": "Invalid JSON format"})
			continue
		}
		switch m.Type {
		case "join":
			fs.join(c, m.RoomID, m.Username)
		case "leaveRoom":
			fs.leave(c)
		case "message":
			fs.message(c, m.Content)
		default:
			c.send(map[string]any{"type": "error", "message": "Unknown message type"})
		}
	}
}

func (fs *fakeServer) join(c *fakeConn, room, name string) {
	fs.leave(c)
	fs.mu.Lock()
	c.room, c.name = room, name
	if n, err := strconv.Atoi(strings.TrimPrefix(name, "u")); err == nil && strings.HasPrefix(name, "u") {
		c.member = n
	}
	if fs.rooms[room] == nil {
		fs.rooms[room] = map[*fakeConn]bool{}
	}
	fs.rooms[room][c] = true
	count := len(fs.rooms[room])
	others := fs.othersLocked(c)
	first := !c.answered
	c.answered = true
	fs.mu.Unlock()
	time.Sleep(fs.joinDelay) // the slow server's own pace, not a synchronisation
	if first {
		fs.mu.Lock()
		fs.unjoined--
		fs.mu.Unlock()
	}
	c.send(map[string]any{"type": "roomJoined", "roomId": room, "memberCount": count, "message": "Joined room " + room})
	// A ping per member exercises the client's pong path.
	c.wmu.Lock()
	c.ws.WriteMessage(websocket.PingMessage, []byte("p"))
	c.wmu.Unlock()
	fs.mu.Lock()
	fs.pings++
	fs.mu.Unlock()
	for _, o := range others {
		o.send(map[string]any{"type": "userJoined", "username": name, "userId": c.id, "memberCount": count})
	}
}

func (fs *fakeServer) leave(c *fakeConn) {
	fs.mu.Lock()
	room := c.room
	if room == "" || !fs.rooms[room][c] {
		fs.mu.Unlock()
		return
	}
	delete(fs.rooms[room], c)
	count := len(fs.rooms[room])
	others := fs.othersLocked(c)
	c.room = ""
	fs.mu.Unlock()
	for _, o := range others {
		o.send(map[string]any{"type": "userLeft", "username": c.name, "userId": c.id, "memberCount": count})
	}
}

func (fs *fakeServer) othersLocked(c *fakeConn) []*fakeConn {
	var out []*fakeConn
	for o := range fs.rooms[c.room] {
		if o != c {
			out = append(out, o)
		}
	}
	return out
}

// message echoes to the sender and delivers to the others, misdelivering on the pattern.
func (fs *fakeServer) message(c *fakeConn, text string) {
	fs.mu.Lock()
	others := fs.othersLocked(c)
	fs.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"type": "message", "content": text, "username": c.name, "userId": c.id,
		"timestamp": "2026-11-26T19:41:01.978Z"})
	c.sendRaw(b) // the echo is always exact
	var ct content
	parsed := parseContent([]byte(text), &ct)
	for _, o := range others {
		if !parsed || fs.faults == faultsNone || o.member < 0 {
			fs.write(o, b, ct, parsed)
			continue
		}
		s, q, r := ct.sender, int(ct.seq), o.member
		if ct.last {
			fs.flush(o, s)
			fs.write(o, b, ct, true)
			continue
		}
		switch {
		case fs.faults&faultDrop != 0 && (s+q+r)%7 == 0:
			// dropped
		case fs.faults&faultDup != 0 && (s+2*q+r)%11 == 0:
			fs.write(o, b, ct, true)
			fs.write(o, b, ct, true)
			fs.flush(o, s)
		case fs.faults&faultHold != 0 && (q+r)%5 == 1 && o.hold(s, q, b):
		default:
			fs.write(o, b, ct, true)
			fs.flush(o, s)
		}
	}
}

// hold keeps b back for (o, s) unless something is held already.
func (o *fakeConn) hold(s, q int, b []byte) bool {
	o.hmu.Lock()
	defer o.hmu.Unlock()
	if o.held[s] != nil {
		return false
	}
	o.held[s], o.heldQ[s] = b, q
	return true
}

func (fs *fakeServer) flush(o *fakeConn, s int) {
	o.hmu.Lock()
	b, q := o.held[s], o.heldQ[s]
	delete(o.held, s)
	o.hmu.Unlock()
	if b != nil {
		fs.write(o, b, content{sender: s, seq: uint32(q)}, true)
	}
}

func (fs *fakeServer) write(o *fakeConn, b []byte, ct content, parsed bool) {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	if o.ws.WriteMessage(websocket.TextMessage, b) == nil && parsed && o.member >= 0 {
		fs.mu.Lock()
		fs.written[o.member] = append(fs.written[o.member], [2]int{ct.sender, int(ct.seq)})
		fs.mu.Unlock()
	}
}

// oracle counts, from what the server wrote, what an exact accountant must report.
type oracleCounts struct{ delivered, duplicated, outOfOrder uint64 }

func (fs *fakeServer) oracle() oracleCounts {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var o oracleCounts
	for _, seq := range fs.written {
		seen := map[[2]int]bool{}
		highest := map[int]int{}
		for _, m := range seq {
			if seen[m] {
				o.duplicated++
				continue
			}
			seen[m] = true
			o.delivered++
			if h, ok := highest[m[0]]; ok && m[1] < h {
				o.outOfOrder++
			}
			if h, ok := highest[m[0]]; !ok || m[1] > h {
				highest[m[0]] = m[1]
			}
		}
	}
	return o
}
