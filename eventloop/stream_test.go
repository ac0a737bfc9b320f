package eventloop_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
)

// streamHandler opens an event stream for GET /stream?name=N and resumes
// stream N for GET /resume?name=N&last=L; every other request gets 404.
type streamHandler struct {
	mu      sync.Mutex
	streams map[string]*eventloop.Conn
	opened  chan *eventloop.Conn
	closed  chan streamClosed
	resumes chan bool // a resume's request arrived on the stream's loop
}

type streamClosed struct {
	c    *eventloop.Conn
	code eventloop.CloseCode
}

func newStreamHandler() *streamHandler {
	return &streamHandler{streams: map[string]*eventloop.Conn{}, opened: make(chan *eventloop.Conn, 100),
		closed: make(chan streamClosed, 100), resumes: make(chan bool, 100)}
}

func (h *streamHandler) Upgrade(*eventloop.Conn, *eventloop.Request) *eventloop.Response { return nil }
func (h *streamHandler) Open(*eventloop.Conn)                                            {}
func (h *streamHandler) Message(*eventloop.Conn, []byte, bool)                           {}
func (h *streamHandler) Close(c *eventloop.Conn, code eventloop.CloseCode) {
	h.closed <- streamClosed{c, code}
}

func (h *streamHandler) HTTP(r *eventloop.Request) *eventloop.Response {
	q, _ := url.ParseQuery(r.RawQuery)
	name := q.Get("name")
	switch r.Path {
	case "/stream":
		c, err := r.Stream(eventloop.StreamStart{Header: []eventloop.HeaderField{{Name: "X-Test", Value: "yes"}},
			First: []byte("event: hello\ndata: " + name + "\n\n")})
		if err != nil {
			return &eventloop.Response{Status: 503, Body: []byte(err.Error())}
		}
		h.mu.Lock()
		h.streams[name] = c
		h.mu.Unlock()
		h.opened <- c
		return nil
	case "/resume":
		h.mu.Lock()
		t := h.streams[name]
		h.mu.Unlock()
		last, _ := strconv.ParseUint(q.Get("last"), 10, 64)
		h.resumes <- eventloop.RequestLoop(r) == t.Loop()
		err := r.Resume(t, last, eventloop.StreamStart{First: []byte("event: resumed\ndata: " + name + "\n\n")},
			func(f eventloop.ResumeFailure) *eventloop.Response {
				return &eventloop.Response{Status: 410, Body: []byte("refused " + strconv.Itoa(int(f)))}
			})
		if err != nil {
			return &eventloop.Response{Status: 500, Body: []byte(err.Error())}
		}
		return nil
	}
	return nil
}

// sseEvent is one event as a client parses it (comment: a ": ..." line).
type sseEvent struct {
	id, event, data, comment string
}

// openStream sends GET target and reads the 200 head of a stream.
func openStream(t testing.TB, e *eventloop.Engine, target string) (*rawClient, *http.Response) {
	t.Helper()
	c := dialTCP(t, e)
	c.send([]byte("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return c, resp
}

// event reads the next event (or comment) of a stream.
func (c *rawClient) event() sseEvent {
	c.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	var ev sseEvent
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read event: %v (so far %+v)", err, ev)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return ev
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "":
			ev.comment = value
		case "id":
			ev.id = value
		case "event":
			ev.event = value
		case "data":
			ev.data = value
		default:
			c.t.Fatalf("unknown field %q", line)
		}
	}
}

// expectEvent reads the next event, skipping keepalives, and checks it.
func (c *rawClient) expectEvent(id, event, data string) {
	c.t.Helper()
	ev := c.event()
	for ev.comment == "ping" {
		ev = c.event()
	}
	if ev != (sseEvent{id: id, event: event, data: data}) {
		c.t.Fatalf("got %+v, want id %q event %q data %q", ev, id, event, data)
	}
}

func recvStream(t testing.TB, h *streamHandler) *eventloop.Conn {
	t.Helper()
	select {
	case c := <-h.opened:
		return c
	case <-time.After(wait):
		t.Fatal("no stream opened")
	}
	return nil
}

func recvStreamClose(t testing.TB, h *streamHandler) streamClosed {
	t.Helper()
	select {
	case c := <-h.closed:
		return c
	case <-time.After(wait):
		t.Fatal("Handler.Close not called")
	}
	return streamClosed{}
}

// write writes one event to c on its loop.
func write(c *eventloop.Conn, data string) { c.Send([]byte("data: " + data + "\n\n")) }

// A stream answers 200 with the SSE head, numbers the events written to it
// (one by one and by fan-out), ignores what the client sends on it, and
// ends with a close event naming the code and reason.
func TestStreamEvents(t *testing.T) {
	h := newStreamHandler()
	e := startEngine(t, h, nil)
	cl, resp := openStream(t, e, "/stream?name=a")
	for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store",
		"X-Accel-Buffering": "no", "X-Test": "yes"} {
		if resp.StatusCode != 200 || resp.Header.Get(k) != v {
			t.Fatalf("%s %s: %q, want %q", resp.Status, k, resp.Header.Get(k), v)
		}
	}
	if resp.ContentLength != -1 || len(resp.TransferEncoding) != 0 || !resp.Close {
		t.Fatalf("length %d, encoding %v: want a body delimited by the close", resp.ContentLength, resp.TransferEncoding)
	}
	cl.expectEvent("", "hello", "a")
	c := recvStream(t, h)
	if !c.Stream() {
		t.Fatal("Stream() false")
	}
	write(c, "one")
	e.Fanout([]byte("data: two\n\n"), e.NewConnSet([]*eventloop.Conn{c}), nil)
	cl.expectEvent("1", "", "one")
	cl.expectEvent("2", "", "two")
	cl.send([]byte("GET /other HTTP/1.1\r\n\r\nnoise")) // read by nobody
	write(c, "three")
	cl.expectEvent("3", "", "three")
	if st := e.Stats(); st.Streams != 1 || st.StreamsOpened != 1 || st.WebSockets != 0 || st.Deliveries != 1 {
		t.Fatalf("stats %+v", st)
	}
	c.Exec(func() { c.Close(4001, `token "expired"`) })
	cl.expectEvent("", "close", `{"code":4001,"reason":"token \"expired\""}`)
	cl.expectEOF()
	if got := recvStreamClose(t, h); got.c != c || got.code != 4001 {
		t.Fatalf("Handler.Close %+v", got)
	}
	waitFor(t, "stream count", func() bool { return e.Stats().Streams == 0 && e.Stats().Conns == 0 })
}

// A quiet stream gets keepalive comments every PingInterval; one whose
// client shows no activity (Touch) for IdleTimeout is closed, 1001.
func TestStreamKeepaliveAndIdle(t *testing.T) {
	h := newStreamHandler()
	e := startEngine(t, h, func(c *eventloop.Config) {
		c.PingInterval, c.IdleTimeout = 100*time.Millisecond, 400*time.Millisecond
	})
	cl, _ := openStream(t, e, "/stream?name=k")
	cl.expectEvent("", "hello", "k")
	c := recvStream(t, h)
	// Touched every 100 ms for twice the idle timeout: only keepalives.
	stop := time.Now().Add(800 * time.Millisecond)
	pings := 0
	for time.Now().Before(stop) {
		c.Exec(c.Touch)
		_ = cl.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		line, err := cl.r.ReadString('\n')
		if err == nil && line != ": ping\n" && line != "\n" {
			t.Fatalf("got %q while touched", line)
		}
		if line == ": ping\n" {
			pings++
		}
	}
	if pings < 3 {
		t.Fatalf("%d keepalives in 800 ms at a 100 ms interval", pings)
	}
	// Untouched: closed within the idle timeout (and a tick).
	ev := cl.event()
	for ev.comment != "" || ev == (sseEvent{}) {
		ev = cl.event()
	}
	if ev != (sseEvent{event: "close", data: `{"code":1001,"reason":"idle timeout"}`}) {
		t.Fatalf("got %+v, want the idle close", ev)
	}
	cl.expectEOF()
	if got := recvStreamClose(t, h); got.code != 1001 || e.Stats().IdleCloses != 1 {
		t.Fatalf("Handler.Close %+v, idle closes %d", got, e.Stats().IdleCloses)
	}
}

// A stream whose client does not read is closed at MaxOutboundBytes like a
// WebSocket (4008), counted among slow consumers and as a stream.
func TestStreamSlowConsumer(t *testing.T) {
	h := newStreamHandler()
	e := startEngine(t, h, func(c *eventloop.Config) { c.MaxOutboundBytes = 64 << 10 })
	cl := dialTCP(t, e)
	_ = cl.Conn.(*net.TCPConn).SetReadBuffer(4096)
	cl.send([]byte("GET /stream?name=s HTTP/1.1\r\nHost: x\r\n\r\n"))
	c := recvStream(t, h)
	ev := []byte("data: " + strings.Repeat("x", 1000) + "\n\n")
	written := make(chan int, 1)
	var step func(n int)
	step = func(n int) {
		c.Exec(func() {
			if c.Write(ev) != nil {
				written <- n
				return
			}
			step(n + 1)
		})
	}
	step(0)
	var n int
	select {
	case n = <-written:
	case <-time.After(wait):
		t.Fatal("never closed")
	}
	if got := recvStreamClose(t, h); got.code != 4008 {
		t.Fatalf("close %d, want 4008", got.code)
	}
	st := e.Stats()
	if st.SlowConsumers != 1 || st.StreamSlow != 1 || st.Streams != 0 {
		t.Fatalf("after %d events: stats %+v", n, st)
	}
	// It held at most the limit: 64 KiB plus what the kernel took.
	t.Logf("closed after %d events of 1 KiB", n)
}

// MaxConns counts streams with WebSockets.
func TestStreamMaxConns(t *testing.T) {
	h := newStreamHandler()
	e := startEngine(t, h, func(c *eventloop.Config) { c.MaxConns = 2 })
	_, resp := openStream(t, e, "/stream?name=1")
	recvStream(t, h)
	ws := dialTCP(t, e)
	ws.send([]byte(upgradeRequest()))
	ws.expect101()
	cl := dialTCP(t, e)
	cl.send([]byte("GET /stream?name=2 HTTP/1.1\r\nHost: x\r\n\r\n"))
	if resp2, body := cl.response(); resp2.StatusCode != 503 || !strings.Contains(body, "node full") {
		t.Fatalf("third: %s %q", resp2.Status, body)
	}
	ws2 := dialTCP(t, e)
	ws2.send([]byte(upgradeRequest()))
	if resp2, _ := ws2.response(); resp2.StatusCode != 503 {
		t.Fatalf("upgrade past MaxConns: %s", resp2.Status)
	}
	_ = resp
}

// A stream whose connection went away is kept (detached) and retains what
// is written to it; a resume on a new connection replays every event after
// the client's last id, then the live ones, whichever loop the new
// connection landed on.
func TestStreamResume(t *testing.T) {
	h := newStreamHandler()
	e := startEngine(t, h, func(c *eventloop.Config) { c.StreamResume = 5 * time.Second })
	seen := map[bool]int{}
	for i := 0; i < 40 && (seen[true] == 0 || seen[false] == 0 || i < 4); i++ {
		name := "r" + strconv.Itoa(i)
		cl, _ := openStream(t, e, "/stream?name="+name)
		cl.expectEvent("", "hello", name)
		c := recvStream(t, h)
		for _, d := range []string{"1", "2", "3"} {
			write(c, d)
			cl.expectEvent(d, "", d)
		}
		_ = cl.Close()
		waitFor(t, "detached", func() bool { return e.Stats().DetachedStreams == 1 })
		write(c, "4")
		write(c, "5")
		cl2, resp := openStream(t, e, "/resume?name="+name+"&last=3")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("resume: %s", resp.Status)
		}
		seen[<-h.resumes]++
		cl2.expectEvent("", "resumed", name)
		cl2.expectEvent("4", "", "4")
		cl2.expectEvent("5", "", "5")
		write(c, "6")
		cl2.expectEvent("6", "", "6")
		// A resume from another loop: the connection it came on is
		// dropped there at the end of that loop's turn, which may come
		// after the events above reached the client.
		waitFor(t, "the resumed stream alone", func() bool {
			st := e.Stats()
			return st.Conns == 1 && st.PendingHandshakes == 0
		})
		if st := e.Stats(); st.DetachedStreams != 0 || st.Streams != 1 {
			t.Fatalf("after the resume: %+v", st)
		}
		c.Exec(func() { c.Close(1000, "done") })
		cl2.expectEvent("", "close", `{"code":1000,"reason":"done"}`)
		cl2.expectEOF()
		if got := recvStreamClose(t, h); got.c != c {
			t.Fatal("another stream closed")
		}
	}
	if seen[true] == 0 || seen[false] == 0 {
		t.Fatalf("resumes on the stream's loop / another loop: %d / %d", seen[true], seen[false])
	}
	waitFor(t, "every connection gone", func() bool { return e.Stats().Conns == 0 })
	if st := e.Stats(); st.StreamResumes != int64(seen[true]+seen[false]) {
		t.Fatalf("stats %+v", st)
	}
}

// A resume of a stream that is still attached replaces its connection; one
// from an id the stream no longer retains is refused and ends the stream;
// one of a closed stream is refused.
func TestStreamResumeRefusals(t *testing.T) {
	h := newStreamHandler()
	e := startEngine(t, h, func(c *eventloop.Config) { c.StreamResume = 5 * time.Second })
	old, _ := openStream(t, e, "/stream?name=x")
	old.expectEvent("", "hello", "x")
	c := recvStream(t, h)
	for i := 1; i <= 70; i++ {
		write(c, strconv.Itoa(i))
		old.expectEvent(strconv.Itoa(i), "", strconv.Itoa(i))
	}
	// Attached, from 66 of 70: the old connection is dropped.
	cl, _ := openStream(t, e, "/resume?name=x&last=66")
	<-h.resumes
	cl.expectEvent("", "resumed", "x")
	for i := 67; i <= 70; i++ {
		cl.expectEvent(strconv.Itoa(i), "", strconv.Itoa(i))
	}
	old.expectEOF()
	// The ring holds the newest 64: 7..70. From 5, refused: the stream ends.
	lost := dialTCP(t, e)
	lost.send([]byte("GET /resume?name=x&last=5 HTTP/1.1\r\nHost: x\r\n\r\n"))
	<-h.resumes
	if resp, body := lost.response(); resp.StatusCode != 410 || body != "refused 1" {
		t.Fatalf("lost: %s %q", resp.Status, body)
	}
	cl.expectEvent("", "close", `{"code":1001,"reason":"events lost"}`)
	if got := recvStreamClose(t, h); got.c != c || got.code != 1001 {
		t.Fatalf("close %+v", got)
	}
	gone := dialTCP(t, e)
	gone.send([]byte("GET /resume?name=x&last=70 HTTP/1.1\r\nHost: x\r\n\r\n"))
	<-h.resumes
	if resp, body := gone.response(); resp.StatusCode != 410 || body != "refused 0" {
		t.Fatalf("gone: %s %q", resp.Status, body)
	}
	if st := e.Stats(); st.StreamResumes != 1 || st.StreamsExpired != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A detached stream ends when nobody resumes it within StreamResume, or at
// once when an event written since it lost its connection leaves its ring;
// with resume off a stream ends with its connection.
func TestStreamDetachedEnds(t *testing.T) {
	t.Run("window", func(t *testing.T) {
		h := newStreamHandler()
		e := startEngine(t, h, func(c *eventloop.Config) { c.StreamResume = 300 * time.Millisecond })
		cl, _ := openStream(t, e, "/stream?name=w")
		c := recvStream(t, h)
		_ = cl.Close()
		waitFor(t, "detached", func() bool { return e.Stats().DetachedStreams == 1 })
		start := time.Now()
		if got := recvStreamClose(t, h); got.c != c || got.code != 1001 {
			t.Fatalf("close %+v", got)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("ended after %v", d)
		}
		if st := e.Stats(); st.StreamsExpired != 1 || st.DetachedStreams != 0 || st.Streams != 0 || st.Conns != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("ring", func(t *testing.T) {
		h := newStreamHandler()
		e := startEngine(t, h, func(c *eventloop.Config) { c.StreamResume = time.Minute })
		cl, _ := openStream(t, e, "/stream?name=r")
		c := recvStream(t, h)
		_ = cl.Close()
		waitFor(t, "detached", func() bool { return e.Stats().DetachedStreams == 1 })
		for i := 0; i < 64; i++ {
			write(c, "kept")
		}
		select {
		case got := <-h.closed:
			t.Fatalf("closed with 64 events retained: %+v", got)
		case <-time.After(100 * time.Millisecond):
		}
		write(c, "one too many")
		if got := recvStreamClose(t, h); got.c != c {
			t.Fatal("another stream")
		}
		if st := e.Stats(); st.StreamsExpired != 1 || st.StreamReplayBytes < 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("off", func(t *testing.T) {
		h := newStreamHandler()
		e := startEngine(t, h, func(c *eventloop.Config) { c.StreamResume = -1 })
		cl, _ := openStream(t, e, "/stream?name=o")
		c := recvStream(t, h)
		_ = cl.Close()
		if got := recvStreamClose(t, h); got.c != c || got.code != eventloop.CloseNoStatus {
			t.Fatalf("close %+v", got)
		}
		if st := e.Stats(); st.DetachedStreams != 0 || st.Streams != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// Deadlines and the drain apply to streams: each ends with its close event.
func TestStreamDeadlineAndDrain(t *testing.T) {
	h := newStreamHandler()
	e := startEngine(t, h, nil)
	cl, _ := openStream(t, e, "/stream?name=d")
	cl.expectEvent("", "hello", "d")
	c := recvStream(t, h)
	c.Exec(func() { c.SetDeadline(50*time.Millisecond, eventloop.CloseSessionTimeout, "hello timeout") })
	cl.expectEvent("", "close", `{"code":4002,"reason":"hello timeout"}`)
	cl.expectEOF()
	if got := recvStreamClose(t, h); got.code != 4002 || e.Stats().DeadlineCloses != 1 {
		t.Fatalf("close %+v", got)
	}
	cl2, _ := openStream(t, e, "/stream?name=e")
	cl2.expectEvent("", "hello", "e")
	recvStream(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	cl2.expectEvent("", "close", `{"code":1001,"reason":"server shutting down"}`)
	cl2.expectEOF()
}
