package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/internal/redistest"
)

// The HTTP streaming carrier on one node: its answers, limits and timers.

// A stream session must say hello within -hello-timeout, as a WebSocket
// must: past it the stream ends with 4002 and its POSTs get session_gone.
func TestStreamHelloDeadline(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.HelloTimeout = 300 * time.Millisecond })
	late := openStream(t, s.Addr())
	// A refused request does not extend the deadline.
	late.callError(map[string]any{"type": "join", "roomId": "r"}, "hello_first")
	start := time.Now()
	if m := late.expectClose(4002, 3*time.Second); m.str("reason") != "hello timeout" {
		t.Fatalf("close %v", m)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed %v after the refused request", d)
	}
	if status, m := postTo(t, s.Addr(), late.postBody(late.seq+1, map[string]any{"type": "hello", "name": "x"})); status != 410 ||
		errCode(m) != "session_gone" {
		t.Fatalf("POST after the deadline: %d %v", status, m)
	}
	// In time, the session goes on past it.
	ok := openStream(t, s.Addr())
	ok.hello("punctual")
	time.Sleep(500 * time.Millisecond) // past the deadline: nothing may close it
	ok.join("r")
	if got := scrape(t, s)["chatd_session_deadline_closes_total"]; got != 1 {
		t.Fatalf("deadline closes %v", got)
	}
}

// The carrier's HTTP answers: JSON errors with stable codes, CORS for
// allowed origins, the preflight, and the transport's own refusals.
func TestStreamHTTPAnswers(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.AllowedOrigins = []string{"https://chat.example"}
		c.StreamBatch = 3
		c.MaxMessageBytes = 200
	})
	c := openStream(t, s.Addr())
	post := func(body string, header ...string) (int, msg) { return postTo(t, s.Addr(), []byte(body), header...) }
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`not json`, 400, "bad_request"},
		{`[]`, 400, "bad_request"},
		{`{"seq":1,"requests":[]}`, 400, "bad_request"},
		{`{"session":"` + c.sid + `","requests":[]}`, 400, "bad_request"},
		{`{"session":"` + c.sid + `","seq":-1}`, 400, "bad_request"},
		{`{"session":"` + c.sid + `","seq":1.5}`, 400, "bad_request"},
		{`{"session":"` + c.sid + `","seq":1,"requests":{}}`, 400, "bad_request"},
		{`{"session":"` + c.sid + `","seq":1,"requests":[1,2,3,4]}`, 413, "batch_too_large"},
		{`{"session":"` + c.sid + `","seq":1,"requests":[{"type":"hello","name":"` + strings.Repeat("n", 200) + `"}]}`, 413, "message_too_big"},
		{`{"session":"x.yz","seq":1}`, 410, "session_gone"},
		{`{"session":"` + c.sid + `x","seq":1}`, 410, "session_gone"},
		{`{"session":"` + c.sid + `","seq":2}`, 409, "seq_gap"},
	} {
		status, m := post(tc.body)
		if status != tc.status || errCode(m) != tc.code || m["error"].(map[string]any)["message"] == "" {
			t.Errorf("%s: %d %v, want %d %s", tc.body, status, m, tc.status, tc.code)
		}
	}
	// A batch at the limit is applied; each request in it is answered on
	// the stream, in order, each checked as a WebSocket frame is.
	if status, m := post(`{"session":"` + c.sid + `","seq":1,"requests":[{"type":"hello","id":1,"name":"a"},"x",{"type":"nope","id":3}]}`); status != 200 {
		t.Fatalf("batch of 3: %d %v", status, m)
	}
	c.seq = 1
	if m := c.read(); m.str("type") != "ok" || m.num("id") != 1 {
		t.Fatalf("1: %v", m)
	}
	if m := c.read(); m.str("code") != "not_object" {
		t.Fatalf("2: %v", m)
	}
	if m := c.read(); m.str("code") != "unknown_type" || m.num("id") != 3 {
		t.Fatalf("3: %v", m)
	}

	// CORS: an allowed origin is echoed on answers, and the preflight
	// answers; a foreign one is refused (403) like an upgrade.
	status, _ := post(string(c.postBody(2)), "Origin", "https://chat.example")
	if status != 200 {
		t.Fatalf("POST with an allowed origin: %d", status)
	}
	c.seq = 2
	req, _ := http.NewRequest("POST", "http://"+s.Addr()+"/stream", strings.NewReader(string(c.postBody(3))))
	req.Header.Set("Origin", "https://chat.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://chat.example" || resp.Header.Get("Vary") != "Origin" {
		t.Fatalf("CORS fields %v", resp.Header)
	}
	req, _ = http.NewRequest("OPTIONS", "http://"+s.Addr()+"/stream", nil)
	req.Header.Set("Origin", "https://chat.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Fatalf("preflight %s %v", resp.Status, resp.Header)
	}
	if status, m := post(string(c.postBody(4)), "Origin", "https://evil.example"); status != 403 || errCode(m) != "origin_not_allowed" {
		t.Fatalf("foreign origin: %d %v", status, m)
	}
	for _, method := range []string{"PUT", "DELETE", "HEAD"} {
		req, _ := http.NewRequest(method, "http://"+s.Addr()+"/stream", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, POST, OPTIONS" {
			t.Fatalf("%s: %s %v", method, resp.Status, resp.Header)
		}
	}
	// A body over 64 KiB is refused by the transport from its length,
	// before it is read (and before the carrier).
	raw, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fmt.Fprintf(raw, "POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 64<<10+1)
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(raw), nil); err != nil || resp.StatusCode != 413 {
		t.Fatalf("big body: %v %v", resp, err)
	}
	// Resumes with a bad id, of an unknown session.
	for target, want := range map[string]string{
		"/stream?session=" + c.sid + "&lastEventId=x": "bad_request",
		"/stream?session=nope":                        "session_gone",
		"/stream?session=" + other(c.sid):             "session_gone",
	} {
		resp, err := http.Get("http://" + s.Addr() + target)
		if err != nil {
			t.Fatal(err)
		}
		var m msg
		raw := new(bytes.Buffer)
		_, _ = raw.ReadFrom(resp.Body)
		resp.Body.Close()
		m = decodeMsg(t, raw.Bytes())
		if (resp.StatusCode != 400 && resp.StatusCode != 410) || errCode(m) != want {
			t.Fatalf("%s: %s %v", target, resp.Status, m)
		}
	}
	m := scrape(t, s)
	if m[`chatd_stream_posts_total{result="bad_request"}`] != 9 || m[`chatd_stream_resume_refusals_total{reason="gone"}`] != 2 {
		t.Fatalf("metrics %v", m)
	}
}

// The node's limits count streams: -max-conns with WebSockets,
// -max-conns-per-ip per address; each request of a POST against the rate
// limit, a heartbeat as one.
func TestStreamLimits(t *testing.T) {
	t.Run("max-conns", func(t *testing.T) {
		s := startServer(t, func(c *server.Config) { c.MaxConns = 2 })
		openStream(t, s.Addr())
		connectV2(t, s.Addr(), "ws")
		resp, err := http.Get("http://" + s.Addr() + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Fatalf("third session: %s", resp.Status)
		}
		if got := scrape(t, s)[`chatd_stream_refusals_total{reason="full"}`]; got != 1 {
			t.Fatalf("refusals %v", got)
		}
	})
	t.Run("per-address", func(t *testing.T) {
		s := startServer(t, func(c *server.Config) { c.MaxConnsPerIP = 1 })
		c := openStream(t, s.Addr())
		resp, err := http.Get("http://" + s.Addr() + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 429 {
			t.Fatalf("second from one address: %s", resp.Status)
		}
		// Its slot comes back when the session ends.
		status, _ := postTo(t, s.Addr(), []byte(`{"session":"`+c.sid+`","seq":1,"close":true}`))
		if status != 200 {
			t.Fatal(status)
		}
		c.expectClose(1000, 5*time.Second)
		waitFor(t, 5*time.Second, "the slot back", func() bool { return scrape(t, s)["chatd_stream_sessions"] == 0 })
		openStream(t, s.Addr())
	})
	t.Run("rate", func(t *testing.T) {
		s := startServer(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 0.01, 3 })
		c := openStream(t, s.Addr())
		reqs := []any{}
		for i := 1; i <= 5; i++ {
			reqs = append(reqs, map[string]any{"type": "hello", "id": i, "name": "n"})
		}
		c.send(reqs...)
		if m := c.read(); m.str("type") != "ok" {
			t.Fatal(m)
		}
		for i := 2; i <= 5; i++ {
			want := "already_hello"
			if i > 3 {
				want = "rate_limited"
			}
			if m := c.read(); m.str("code") != want || m.num("id") != i {
				t.Fatalf("request %d: %v, want %s", i, m, want)
			}
		}
		// A heartbeat is one request: refused now, and not applied.
		status, m := postTo(t, s.Addr(), c.postBody(c.seq+1))
		if status != 429 || errCode(m) != "rate_limited" {
			t.Fatalf("heartbeat over the rate: %d %v", status, m)
		}
		if got := scrape(t, s)[`chatd_stream_posts_total{result="rate_limited"}`]; got != 1 {
			t.Fatalf("counted %v", got)
		}
	})
}

// A stream gets keepalive comments at the ping interval; a session whose
// client POSTs nothing for the idle timeout is closed (1001), one that sends
// heartbeats (empty POSTs) is not.
func TestStreamIdleAndKeepalive(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.PingInterval, c.IdleTimeout = 100*time.Millisecond, 500*time.Millisecond
	})
	quiet := openStream(t, s.Addr())
	busy := openStream(t, s.Addr())
	if busy.info.num("heartbeat") != 100 || busy.info.num("resumeWindow") != 10000 {
		t.Fatalf("session event %v", busy.info)
	}
	quiet.hello("quiet")
	busy.hello("busy")
	// Raw lines of busy's stream: keepalive comments while it heartbeats.
	stop := time.Now().Add(time.Second)
	pings := 0
	for time.Now().Before(stop) {
		busy.send()
		_ = busy.conn.SetReadDeadline(time.Now().Add(120 * time.Millisecond))
		for {
			line, err := busy.r.ReadString('\n')
			if err != nil {
				break
			}
			if line == ": ping\n" {
				pings++
			} else if line != "\n" {
				t.Fatalf("busy got %q", line)
			}
		}
	}
	if pings < 3 {
		t.Fatalf("%d keepalives in a second at 100 ms", pings)
	}
	if m := quiet.expectClose(1001, 3*time.Second); m.str("reason") != "idle timeout" {
		t.Fatalf("quiet: %v", m)
	}
	busy.join("still-here")
}

// A stream whose connection dropped is resumed on its node with the events
// it missed; a resume that reaches the other node is refused and closes the
// session on its node (its members see it leave).
func TestStreamResumeCluster(t *testing.T) {
	rs := redistest.Start(t)
	a := startStreamNode(t, rs, "A", nil)
	b := startStreamNode(t, rs, "B", nil)
	alice := openStream(t, a.Addr(), b.Addr())
	alice.hello("alice")
	alice.join("room")
	bob := connectV2(t, b.Addr(), "bob")
	bob.join("room")
	alice.expect("joined")
	bob.publish("room", "one")
	alice.expect("message")
	last := alice.lastID
	_ = alice.conn.Close()
	waitFor(t, 5*time.Second, "detached", func() bool { return scrape(t, a)["chatd_stream_detached"] == 1 })
	bob.publish("room", "two") // while alice's stream is away
	// POSTs reach a detached session; their replies wait with the events.
	alice.send(map[string]any{"type": "publish", "id": 50, "roomId": "room", "content": "from away"})
	bob.expect("message")

	re := dialStream(t, a.Addr(), "/stream?session="+alice.sid, http.Header{"Last-Event-Id": {strconv.FormatUint(last, 10)}})
	re.lastID, re.posts, re.sid, re.seq = last, alice.posts, alice.sid, alice.seq
	ev := re.nextEvent()
	if si := decodeMsg(t, ev.data); ev.event != "session" || si["resumed"] != true || si.str("session") != alice.sid {
		t.Fatalf("resumed session event %+v", ev)
	}
	if m := re.expect("message"); m.str("content") != "two" || re.lastID != last+1 {
		t.Fatalf("replayed %v (id %d after %d)", m, re.lastID, last)
	}
	if m := re.expect("ok"); m.num("id") != 50 {
		t.Fatalf("replayed reply %v", m)
	}
	bob.publish("room", "three")
	if m := re.expect("message"); m.str("content") != "three" {
		t.Fatalf("live %v", m)
	}
	bob.sync()

	// Dropped again; the resume lands on B: refused there, closed on A.
	_ = re.conn.Close()
	waitFor(t, 5*time.Second, "detached", func() bool { return scrape(t, a)["chatd_stream_detached"] == 1 })
	resp, err := http.Get("http://" + b.Addr() + "/stream?session=" + alice.sid + "&lastEventId=" + strconv.FormatUint(re.lastID, 10))
	if err != nil {
		t.Fatal(err)
	}
	raw := new(bytes.Buffer)
	_, _ = raw.ReadFrom(resp.Body)
	resp.Body.Close()
	if m := decodeMsg(t, raw.Bytes()); resp.StatusCode != 410 || errCode(m) != "session_elsewhere" {
		t.Fatalf("resume on B: %s %v", resp.Status, m)
	}
	if m := bob.expect("left"); m.str("userId") != alice.userID {
		t.Fatalf("left %v", m)
	}
	ma := scrape(t, a)
	if ma["chatd_stream_resumes_total"] != 1 || ma["chatd_stream_sessions"] != 0 || ma["chatd_stream_detached"] != 0 {
		t.Fatalf("A: %v", ma)
	}
	if got := scrape(t, b)[`chatd_stream_resume_refusals_total{reason="elsewhere"}`]; got != 1 {
		t.Fatalf("B refusals %v", got)
	}
}

// other returns a session id of the same node that is not sid (its last
// character changed).
func other(sid string) string {
	last := sid[len(sid)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return sid[:len(sid)-1] + string(repl)
}

// With the carrier off the stream path is not found, whatever the method,
// and nothing else changes.
func TestStreamOff(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.NoStream = true })
	for _, method := range []string{"GET", "POST", "OPTIONS"} {
		req, _ := http.NewRequest(method, "http://"+s.Addr()+"/stream", strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("%s: %s", method, resp.Status)
		}
	}
	connectV2(t, s.Addr(), "ws").join("r")
}
