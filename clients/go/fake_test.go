package chatdclient

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeServer is a scripted v2 server for the client's edge cases: the test
// reads each connection's requests and writes exactly the frames it wants.
// With autoHello it answers hello itself (user "u<n>" on connection n).
type fakeServer struct {
	t         testing.TB
	srv       *httptest.Server
	URL       string
	conns     chan *fakeConn
	autoHello bool
	// subprotocol is what the upgrade answers; "-" answers none.
	subprotocol string

	mu sync.Mutex
	n  int
}

// fakeConn is one connection to the fake server.
type fakeConn struct {
	t    testing.TB
	n    int
	ws   *websocket.Conn
	wmu  sync.Mutex
	in   chan fakeReq
	gone chan struct{} // closed when the client's side is gone
}

// fakeReq is a request as the fake server read it.
type fakeReq map[string]any

func (r fakeReq) str(k string) string { s, _ := r[k].(string); return s }
func (r fakeReq) num(k string) int    { f, _ := r[k].(float64); return int(f) }

// since returns the request's since, and whether it has one.
func (r fakeReq) since() (Position, bool) {
	m, ok := r["since"].(map[string]any)
	if !ok {
		return Position{}, false
	}
	e, _ := m["epoch"].(string)
	o, _ := m["offset"].(float64)
	return Position{Epoch: e, Offset: uint64(o)}, true
}

func startFake(t testing.TB, autoHello bool) *fakeServer {
	t.Helper()
	fs := &fakeServer{t: t, conns: make(chan *fakeConn, 16), autoHello: autoHello, subprotocol: Subprotocol}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := http.Header{}
		if fs.subprotocol != "-" {
			h.Set("Sec-WebSocket-Protocol", fs.subprotocol)
		}
		ws, err := up.Upgrade(w, r, h)
		if err != nil {
			return
		}
		fs.mu.Lock()
		fs.n++
		fc := &fakeConn{t: t, n: fs.n, ws: ws, in: make(chan fakeReq, 1024), gone: make(chan struct{})}
		fs.mu.Unlock()
		go fc.read(fs.autoHello)
		fs.conns <- fc
	}))
	fs.URL = "ws" + strings.TrimPrefix(fs.srv.URL, "http") + "/ws"
	t.Cleanup(fs.srv.Close)
	return fs
}

// next returns the next accepted connection.
func (fs *fakeServer) next() *fakeConn {
	fs.t.Helper()
	select {
	case fc := <-fs.conns:
		fs.t.Cleanup(func() { fc.ws.Close() })
		return fc
	case <-time.After(10 * time.Second):
		fs.t.Fatal("fake server: no connection")
		return nil
	}
}

func (fc *fakeConn) read(autoHello bool) {
	defer close(fc.gone)
	for {
		_, p, err := fc.ws.ReadMessage()
		if err != nil {
			return
		}
		var r fakeReq
		if json.Unmarshal(p, &r) != nil {
			continue
		}
		if autoHello && r.str("type") == reqHello {
			fc.ok(r, map[string]any{"userId": "u" + itoa(fc.n), "name": r.str("name"), "node": "fake"})
		}
		fc.in <- r
	}
}

// next returns the next request, failing after 10 s.
func (fc *fakeConn) next() fakeReq {
	fc.t.Helper()
	select {
	case r := <-fc.in:
		return r
	case <-time.After(10 * time.Second):
		fc.t.Fatal("fake server: no request")
		return nil
	}
}

// expect returns the next request, which must be of type typ.
func (fc *fakeConn) expect(typ string) fakeReq {
	fc.t.Helper()
	r := fc.next()
	if r.str("type") != typ {
		fc.t.Fatalf("fake server: got %v, want a %s", r, typ)
	}
	return r
}

// send writes one frame.
func (fc *fakeConn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	_ = fc.ws.WriteMessage(websocket.TextMessage, b)
}

// ok answers r with fields.
func (fc *fakeConn) ok(r fakeReq, fields map[string]any) {
	m := map[string]any{"type": "ok", "id": r["id"]}
	for k, v := range fields {
		m[k] = v
	}
	fc.send(m)
}

// fail answers r with an error.
func (fc *fakeConn) fail(r fakeReq, code, msg string) {
	fc.send(map[string]any{"type": "error", "id": r["id"], "code": code, "message": msg})
}

// push sends a message push.
func (fc *fakeConn) push(room, epoch string, offset uint64, content string) {
	fc.send(msgFrame(room, epoch, offset, content))
}

// msgFrame is a message push (and an entry of messages).
func msgFrame(room, epoch string, offset uint64, content string) map[string]any {
	return map[string]any{"type": "message", "roomId": room, "epoch": epoch, "offset": offset, "content": content,
		"userId": "other", "name": "Other", "timestamp": "2026-01-02T03:04:05.678Z"}
}

// msgs returns message frames of offsets from..to.
func msgs(room, epoch string, from, to uint64) []any {
	var out []any
	for o := from; o <= to; o++ {
		out = append(out, msgFrame(room, epoch, o, "m"+itoa(int(o))))
	}
	return out
}

// joinOK answers a join.
func (fc *fakeConn) joinOK(r fakeReq, epoch string, offset uint64, messages []any, recovered *bool) {
	f := map[string]any{"roomId": r.str("roomId"), "memberCount": 2, "epoch": epoch, "offset": offset,
		"messages": messages}
	if messages == nil {
		f["messages"] = []any{}
	}
	if recovered != nil {
		f["recovered"] = *recovered
	}
	fc.ok(r, f)
}

// closeWith closes the connection with a close frame.
func (fc *fakeConn) closeWith(code int, reason string) {
	fc.wmu.Lock()
	_ = fc.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
		time.Now().Add(time.Second))
	fc.wmu.Unlock()
	fc.ws.Close()
}

// waitGone waits until the client's side of the connection is gone.
func (fc *fakeConn) waitGone() {
	fc.t.Helper()
	select {
	case <-fc.gone:
	case <-time.After(10 * time.Second):
		fc.t.Fatal("fake server: the client did not close")
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func ptr[T any](v T) *T { return &v }

// drop closes the TCP connection without a close frame.
func (fc *fakeConn) drop() { fc.ws.Close() }
