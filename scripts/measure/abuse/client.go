package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one WebSocket client. A reader goroutine hands replies to the
// request waiting for them (v2: frames starting {"type":"ok" or
// {"type":"error"), and every other frame to onPush (counted in pushes).
// v1 frames all go to onPush.
type conn struct {
	ws        *websocket.Conn
	v2        bool
	wmu       sync.Mutex
	nextID    atomic.Int64
	mu        sync.Mutex
	waiting   map[string]chan reply
	pushes    atomic.Int64
	onPush    func([]byte) // set before the reader starts, or nil
	done      chan struct{}
	closeMu   sync.Mutex
	closeCode int // the close code the server sent; -1: dropped without one; -2: still open at a read deadline

	paused  atomic.Bool   // the reader stops reading (a non-reading client) until resume
	resumed chan struct{} // closed by resume
}

// pause makes the reader stop after the frame it is reading (if any).
func (c *conn) pause() { c.paused.Store(true) }

// resume lets a paused reader go on.
func (c *conn) resume() {
	if c.paused.CompareAndSwap(true, false) {
		close(c.resumed)
	}
}

type reply struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	raw     []byte
}

var dialSlots = make(chan struct{}, 32)

var errClosed = errors.New("connection closed")

var dialer = websocket.Dialer{HandshakeTimeout: 15 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}

// dial upgrades to url; proto "v2" offers chatd.v2. The status of a refused
// upgrade is in the error (httpStatus).
func dial(url string, v2 bool, hdr http.Header, onPush func([]byte)) (*conn, error) {
	dialSlots <- struct{}{} // under BEFORE's 64 handshakes in flight per address
	defer func() { <-dialSlots }()
	d := dialer
	if v2 {
		d.Subprotocols = []string{"chatd.v2"}
	}
	ws, resp, err := d.Dial(url, hdr)
	if err != nil {
		if resp != nil {
			return nil, &statusError{resp.StatusCode}
		}
		return nil, err
	}
	c := &conn{ws: ws, v2: v2, waiting: map[string]chan reply{}, onPush: onPush, done: make(chan struct{}), resumed: make(chan struct{})}
	go c.read()
	return c, nil
}

type statusError struct{ status int }

func (s *statusError) Error() string { return "upgrade refused: HTTP " + strconv.Itoa(s.status) }

func httpStatus(err error) int {
	var s *statusError
	if errors.As(err, &s) {
		return s.status
	}
	return 0
}

func (c *conn) read() {
	defer close(c.done)
	for {
		if c.paused.Load() {
			<-c.resumed
		}
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			code := -1
			var ce *websocket.CloseError
			var ne net.Error
			if errors.As(err, &ce) {
				code = ce.Code
			} else if errors.As(err, &ne) && ne.Timeout() {
				code = -2
			}
			c.closeMu.Lock()
			c.closeCode = code
			c.closeMu.Unlock()
			c.mu.Lock()
			for id, ch := range c.waiting {
				close(ch)
				delete(c.waiting, id)
			}
			c.mu.Unlock()
			return
		}
		if c.v2 && (bytes.HasPrefix(b, []byte(`{"type":"ok"`)) || bytes.HasPrefix(b, []byte(`{"type":"error"`))) {
			var r reply
			if json.Unmarshal(b, &r) == nil {
				r.raw = b
				c.mu.Lock()
				ch := c.waiting[string(r.ID)]
				delete(c.waiting, string(r.ID))
				c.mu.Unlock()
				if ch != nil {
					ch <- r
					continue
				}
			}
		}
		c.pushes.Add(1)
		if c.onPush != nil {
			c.onPush(b)
		}
	}
}

// closed reports the close code once the reader stopped (0, false while open).
func (c *conn) closed() (int, bool) {
	select {
	case <-c.done:
		c.closeMu.Lock()
		defer c.closeMu.Unlock()
		return c.closeCode, true
	default:
		return 0, false
	}
}

func (c *conn) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// call sends a v2 request with a fresh id and waits up to timeout for its reply.
func (c *conn) call(req map[string]any, timeout time.Duration) (reply, error) {
	id := strconv.FormatInt(c.nextID.Add(1), 10)
	req["id"] = json.Number(id)
	ch := make(chan reply, 1)
	c.mu.Lock()
	c.waiting[id] = ch
	c.mu.Unlock()
	if err := c.send(req); err != nil {
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
		return reply{}, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r, ok := <-ch:
		if !ok {
			return reply{}, errClosed
		}
		return r, nil
	case <-t.C:
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
		return reply{}, fmt.Errorf("no reply to %v in %s", req["type"], timeout)
	}
}

// ok calls and turns an error reply into an error.
func (c *conn) ok(req map[string]any, timeout time.Duration) (reply, error) {
	r, err := c.call(req, timeout)
	if err == nil && r.Type != "ok" {
		err = fmt.Errorf("%v refused: %s (%s)", req["type"], r.Code, r.Message)
	}
	return r, err
}

func (c *conn) close() {
	c.wmu.Lock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	c.wmu.Unlock()
	_ = c.ws.Close()
}

// v2user dials url, says hello (with a token or a name) and returns the connection.
func v2user(url, name, token string, onPush func([]byte)) (*conn, error) {
	c, err := dial(url, true, nil, onPush)
	if err != nil {
		return nil, err
	}
	hello := map[string]any{"type": "hello", "name": name}
	if token != "" {
		hello["token"] = token
	}
	if _, err := c.ok(hello, 15*time.Second); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// parallel runs f(i) for i < n, at most k at once, and returns the first error.
func parallel(n, k int, f func(i int) error) error {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < k; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || first.Load() != nil {
					return
				}
				if err := f(i); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return err
	}
	return nil
}

// rawRequest sends a hand-written HTTP request to addr and returns the status line's code.
func rawRequest(addr, req string) (int, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte(req)); err != nil {
		return 0, err
	}
	buf := make([]byte, 512)
	n, err := nc.Read(buf)
	if n < 12 {
		return 0, fmt.Errorf("no status line: %q %v", buf[:n], err)
	}
	return strconv.Atoi(string(buf[9:12]))
}
