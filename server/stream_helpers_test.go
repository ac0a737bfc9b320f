package server_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A raw HTTP streaming client (docs/protocol-v2.md, "Over HTTP"): the stream
// is a GET read from a plain TCP connection, event by event; requests are
// POSTs, sent in turn to the addresses in posts (a client behind a balancer
// without sticky sessions: the tests send them to the other node on
// purpose).

// streamClient is one stream session.
type streamClient struct {
	t      testing.TB
	conn   net.Conn
	r      *bufio.Reader
	addr   string   // where the stream is
	posts  []string // where POSTs go, in turn
	turn   int
	sid    string
	node   string
	info   msg    // the session event's data
	seq    uint64 // of the last POST applied
	nextID int
	lastID uint64 // the last event id read
	userID string
	origin string // sent with POSTs when set (a browser sends its page's)
}

// streamEvent is one event of a stream.
type streamEvent struct {
	id    uint64
	event string // "" for a v2 message
	data  []byte
}

// openStream opens a stream on addr whose POSTs go to posts (addr if none).
func openStream(t testing.TB, addr string, posts ...string) *streamClient {
	t.Helper()
	c := dialStream(t, addr, "/stream", nil)
	c.posts = posts
	if len(posts) == 0 {
		c.posts = []string{addr}
	}
	ev := c.nextEvent()
	if ev.event != "session" {
		t.Fatalf("first event %+v, want session", ev)
	}
	c.info = decodeMsg(t, ev.data)
	c.sid, c.node = c.info.str("session"), c.info.str("node")
	if c.sid == "" || c.node == "" {
		t.Fatalf("session event %s", ev.data)
	}
	return c
}

// dialStream sends GET target on a new connection and reads the 200 head.
// addr is host:port, or https://host:port for a TLS proxy.
func dialStream(t testing.TB, addr, target string, header http.Header) *streamClient {
	t.Helper()
	var conn net.Conn
	var err error
	if host, ok := strings.CutPrefix(addr, "https://"); ok {
		conn, err = tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true})
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n", target, strings.TrimPrefix(addr, "https://"))
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	c := &streamClient{t: t, conn: conn, r: bufio.NewReader(conn), addr: addr}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	// (nginx takes X-Accel-Buffering for itself: through it, it is gone.)
	direct := !strings.HasPrefix(addr, "https://")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" ||
		(direct && resp.Header.Get("X-Accel-Buffering") != "no") {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		t.Fatalf("GET %s: %s %v %s", target, resp.Status, resp.Header, body)
	}
	// The body as the client gets it: chatd's ends with the connection; a
	// proxy may send it chunked (nginx does).
	c.r = bufio.NewReader(resp.Body)
	return c
}

// nextEvent reads the next event (keepalive comments skipped), within 5 s.
func (c *streamClient) nextEvent() streamEvent {
	c.t.Helper()
	return c.nextEventWithin(5 * time.Second)
}

func (c *streamClient) nextEventWithin(d time.Duration) streamEvent {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	var ev streamEvent
	fields := 0
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("stream read: %v (so far %+v)", err, ev)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if fields == 0 {
				continue // after a comment
			}
			if ev.id != 0 {
				if ev.id != c.lastID+1 && c.lastID != 0 {
					c.t.Fatalf("event id %d after %d", ev.id, c.lastID)
				}
				c.lastID = ev.id
			}
			return ev
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "":
			continue // a comment
		case "id":
			ev.id, err = strconv.ParseUint(value, 10, 64)
			if err != nil {
				c.t.Fatalf("id %q", value)
			}
		case "event":
			ev.event = value
		case "data":
			ev.data = []byte(value)
		default:
			c.t.Fatalf("unknown field %q", line)
		}
		fields++
	}
}

func decodeMsg(t testing.TB, p []byte) msg {
	t.Helper()
	var m msg
	if err := json.Unmarshal(p, &m); err != nil {
		t.Fatalf("bad JSON %q: %v", p, err)
	}
	return m
}

// read returns the next v2 message; a close event fails the test.
func (c *streamClient) read() msg {
	c.t.Helper()
	ev := c.nextEvent()
	if ev.event != "" || ev.id == 0 {
		c.t.Fatalf("got event %q %s (id %d), want a v2 message", ev.event, ev.data, ev.id)
	}
	return decodeMsg(c.t, ev.data)
}

// expect reads the next message and checks its type.
func (c *streamClient) expect(typ string) msg {
	c.t.Helper()
	m := c.read()
	if m.str("type") != typ {
		c.t.Fatalf("got %v, want type %q", m, typ)
	}
	return m
}

// expectClose reads up to the close event, checks its code, and expects the
// server to end the response.
func (c *streamClient) expectClose(code int, within time.Duration) msg {
	c.t.Helper()
	ev := c.nextEventWithin(within)
	if ev.event != "close" {
		c.t.Fatalf("got %q %s, want the close event", ev.event, ev.data)
	}
	m := decodeMsg(c.t, ev.data)
	if m.num("code") != code {
		c.t.Fatalf("close %s, want code %d", ev.data, code)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := c.r.ReadByte(); err == nil {
		c.t.Fatalf("byte %q after the close event", b)
	}
	return m
}

// postBody is a POST's body.
func (c *streamClient) postBody(seq uint64, reqs ...any) []byte {
	if reqs == nil {
		reqs = []any{}
	}
	b, _ := json.Marshal(map[string]any{"session": c.sid, "seq": seq, "requests": reqs})
	return b
}

// insecureClient POSTs through the test proxies' throw-away certificates.
var insecureClient = &http.Client{Timeout: 15 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

// postTo POSTs body to addr's stream path (addr: host:port, or https://host:port
// for a TLS proxy) and returns the status and the decoded answer.
func postTo(t testing.TB, addr string, body []byte, header ...string) (int, msg) {
	t.Helper()
	u, hc := "http://"+addr+"/stream", http.DefaultClient
	if strings.HasPrefix(addr, "https://") {
		u, hc = addr+"/stream", insecureClient
	}
	req, _ := http.NewRequest("POST", u, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("POST answer %s, Content-Type %q: %s", resp.Status, ct, raw)
	}
	return resp.StatusCode, decodeMsg(t, raw)
}

// errCode is an error answer's code.
func errCode(m msg) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// send POSTs the next batch to the next address in turn and checks it was
// applied.
func (c *streamClient) send(reqs ...any) {
	c.t.Helper()
	addr := c.posts[c.turn%len(c.posts)]
	c.turn++
	var hdr []string
	if c.origin != "" {
		hdr = []string{"Origin", c.origin}
	}
	status, m := postTo(c.t, addr, c.postBody(c.seq+1, reqs...), hdr...)
	if status != 200 || uint64(m.num("seq")) != c.seq+1 || m["duplicate"] != nil {
		c.t.Fatalf("POST seq %d to %s: %d %v", c.seq+1, addr, status, m)
	}
	c.seq++
}

// call sends one request with a fresh id and returns its ok reply.
func (c *streamClient) call(req map[string]any) msg {
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

// callError sends one request with a fresh id and checks its error reply.
func (c *streamClient) callError(req map[string]any, code string) msg {
	c.t.Helper()
	c.nextID++
	req["id"] = c.nextID
	c.send(req)
	m := c.read()
	if m.str("type") != "error" || m.num("id") != c.nextID || m.str("code") != code {
		c.t.Fatalf("%v: got %v, want error %s with id %d", req, m, code, c.nextID)
	}
	return m
}

// hello says hello as name.
func (c *streamClient) hello(name string) msg {
	c.t.Helper()
	m := c.call(map[string]any{"type": "hello", "name": name})
	c.userID = m.str("userId")
	if m.str("name") != name || c.userID == "" || m.str("node") != c.node {
		c.t.Fatalf("hello ok %v (stream on %s)", m, c.node)
	}
	return m
}

func (c *streamClient) join(room string) msg {
	c.t.Helper()
	return c.call(map[string]any{"type": "join", "roomId": room})
}

func (c *streamClient) publish(room, content string) msg {
	c.t.Helper()
	return c.call(map[string]any{"type": "publish", "roomId": room, "content": content})
}

// sync proves every push queued for c before now has arrived (the reply to
// a request sent now follows them).
func (c *streamClient) sync() {
	c.t.Helper()
	c.callError(map[string]any{"type": "leave", "roomId": "not-a-room-of-mine"}, "not_in_room")
}
