package eventloop_test

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
	"github.com/gorilla/websocket"
)

const goodKey = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

// req builds a request head from a request line and header lines.
func req(line string, headers ...string) string {
	return line + "\r\n" + strings.Join(headers, "") + "\r\n"
}

// TestHandshakeChecks runs every RFC 6455 §4.2 check against a raw client:
// the status, the headers that must come with it, the failure counter that
// moves, and that the handler sees Open (and later Close) only for upgrades.
func TestHandshakeChecks(t *testing.T) {
	const (
		host    = "Host: example.com\r\n"
		upg     = "Upgrade: websocket\r\n"
		conn    = "Connection: Upgrade\r\n"
		version = "Sec-WebSocket-Version: 13\r\n"
	)
	type want struct {
		status int
		header string // "Name: value" that the response must carry
		reason int    // HandshakeFailure counted; -1: none
		http   bool   // handed to Handler.HTTP
	}
	ok := want{status: 101, reason: -1}
	bad := want{status: 400, reason: int(eventloop.HandshakeMalformed)}
	for _, tc := range []struct {
		name string
		req  string
		want want
	}{
		{"valid", upgradeRequest(), ok},
		{"tokens case-insensitive", req("GET /ws HTTP/1.1", host, "upgrade: WebSocket\r\n", "connection: UPGRADE\r\n", goodKey, version), ok},
		{"connection list", req("GET /ws HTTP/1.1", host, upg, "Connection: keep-alive, Upgrade\r\n", goodKey, version), ok},
		{"connection list no spaces", req("GET /ws HTTP/1.1", host, upg, "Connection: keep-alive,upgrade,foo\r\n", goodKey, version), ok},
		{"upgrade list", req("GET /ws HTTP/1.1", host, "Upgrade: foo/1, websocket\r\n", conn, goodKey, version), ok},
		{"header value whitespace", req("GET /ws?room=1 HTTP/1.1", "Host:example.com\r\n", "Upgrade:\twebsocket \r\n", conn, goodKey, "Sec-WebSocket-Version:   13\r\n"), ok},
		{"POST upgrade", req("POST /ws HTTP/1.1", host, upg, conn, goodKey, version), bad},
		{"HTTP/1.0 upgrade", req("GET /ws HTTP/1.0", host, upg, conn, goodKey, version), bad},
		{"missing Host", req("GET /ws HTTP/1.1", upg, conn, goodKey, version), bad},
		{"empty Host", req("GET /ws HTTP/1.1", "Host: \r\n", upg, conn, goodKey, version), bad},
		{"Connection keep-alive only", req("GET /ws HTTP/1.1", host, upg, "Connection: keep-alive\r\n", goodKey, version), bad},
		{"Connection missing", req("GET /ws HTTP/1.1", host, upg, goodKey, version), bad},
		{"Connection upgrades (not a token match)", req("GET /ws HTTP/1.1", host, upg, "Connection: upgrades\r\n", goodKey, version), bad},
		{"key missing", req("GET /ws HTTP/1.1", host, upg, conn, version), bad},
		{"key 15 bytes", req("GET /ws HTTP/1.1", host, upg, conn, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n", version), bad},
		{"key 17 bytes", req("GET /ws HTTP/1.1", host, upg, conn, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n", version), bad},
		{"key unpadded", req("GET /ws HTTP/1.1", host, upg, conn, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n", version), bad},
		{"key not base64", req("GET /ws HTTP/1.1", host, upg, conn, "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n", version), bad},
		{"version 12", req("GET /ws HTTP/1.1", host, upg, conn, goodKey, "Sec-WebSocket-Version: 12\r\n"),
			want{status: 426, header: "Sec-WebSocket-Version: 13", reason: int(eventloop.HandshakeVersion)}},
		{"version missing", req("GET /ws HTTP/1.1", host, upg, conn, goodKey),
			want{status: 426, header: "Sec-WebSocket-Version: 13", reason: int(eventloop.HandshakeVersion)}},
		{"request line garbage", "GARBAGE\r\n\r\n", bad},
		{"request line no proto", req("GET /ws", host), bad},
		{"request line HTTP/2.0", req("GET /ws HTTP/2.0", host, upg, conn, goodKey, version), bad},
		{"request line extra space", req("GET /ws x HTTP/1.1", host), bad},
		{"method not a token", req("G(T /ws HTTP/1.1", host), bad},
		{"header without colon", req("GET /ws HTTP/1.1", host, "Upgrade websocket\r\n", conn, goodKey, version), bad},
		{"header name with space", req("GET /ws HTTP/1.1", host, "Up grade: websocket\r\n", conn, goodKey, version), bad},
		{"obsolete line folding", req("GET /ws HTTP/1.1", host, upg, " continued\r\n", conn, goodKey, version), bad},
		{"control byte in value", req("GET /ws HTTP/1.1", "Host: a\x01b\r\n", upg, conn, goodKey, version), bad},
		{"header over the cap", req("GET /ws HTTP/1.1", host, upg, conn, goodKey, version, "X-Pad: "+strings.Repeat("a", 1100)+"\r\n"),
			want{status: 431, reason: int(eventloop.HandshakeTooLarge)}},
		{"unterminated head over the cap", "GET /ws HTTP/1.1\r\nX-Pad: " + strings.Repeat("a", 1100),
			want{status: 431, reason: int(eventloop.HandshakeTooLarge)}},
		{"two Host lines", upgradeRequest("Host: evil.example\r\n"), bad},
		{"two Host lines, other case", req("GET /ws HTTP/1.1", host, upg, conn, goodKey, version, "HOST: example.com\r\n"), bad},
		{"two Origin lines", upgradeRequest("Origin: http://example.com\r\n", "origin: http://evil.example\r\n"), bad},
		{"two Origin lines, same value", upgradeRequest("Origin: http://example.com\r\n", "Origin: http://example.com\r\n"), bad},
		{"plain GET with two Host lines", req("GET /hello HTTP/1.1", host, "Host: other.example\r\n"), bad},
		{"one Origin", upgradeRequest("Origin: http://example.com\r\n"), ok},
		{"origin refused", upgradeRequest("Origin: http://evil.example\r\n"),
			want{status: 403, reason: int(eventloop.HandshakeRefused)}},
		{"plain GET", req("GET /hello HTTP/1.1", host), want{status: 200, reason: -1, http: true}},
		{"plain GET with Connection upgrade only", req("GET /hello HTTP/1.1", host, conn, goodKey, version), want{status: 200, reason: -1, http: true}},
		{"plain GET unknown path", req("GET /nope HTTP/1.1", host), want{status: 404, reason: -1, http: true}},
		{"plain POST", req("POST /hello HTTP/1.1", host, "Content-Length: 0\r\n"), want{status: 200, reason: -1, http: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newEchoHandler()
			h.refuse = func(r *eventloop.Request) *eventloop.Response {
				if r.Get("Origin") == "http://evil.example" {
					return &eventloop.Response{Status: 403, Body: []byte("forbidden origin")}
				}
				return nil
			}
			e := startEngine(t, h, func(c *eventloop.Config) { c.MaxHeaderBytes = 1024 })
			c := dialTCP(t, e)
			c.send([]byte(tc.req))
			resp, _ := c.response()
			if resp.StatusCode != tc.want.status {
				t.Fatalf("status %s, want %d", resp.Status, tc.want.status)
			}
			if tc.want.header != "" {
				name, value, _ := strings.Cut(tc.want.header, ": ")
				if got := resp.Header.Get(name); got != value {
					t.Fatalf("header %s = %q, want %q", name, got, value)
				}
			}
			st := e.Stats()
			for i, n := range st.HandshakeFailures {
				if want := int64(0); i == tc.want.reason {
					if n != 1 {
						t.Errorf("HandshakeFailures[%v] = %d, want 1", eventloop.HandshakeFailure(i), n)
					}
				} else if n != want {
					t.Errorf("HandshakeFailures[%v] = %d, want 0", eventloop.HandshakeFailure(i), n)
				}
			}
			if tc.want.status == 101 {
				if st.Upgraded != 1 {
					t.Errorf("Upgraded = %d, want 1", st.Upgraded)
				}
				recvOpen(t, h.openCh)
				c.send(frame(1, []byte("hi")))
				c.expectMessage(1, []byte("hi"))
				c.send(frame(8, closePayload(1000, "")))
				c.expectClose(1000)
				if code := recvCode(t, h.closeCh); code != 1000 {
					t.Errorf("Handler.Close code %d, want 1000", code)
				}
				return
			}
			if got := st.HTTPRequests; (got == 1) != tc.want.http {
				t.Errorf("HTTPRequests = %d, want http=%v", got, tc.want.http)
			}
			// Every response closes the connection; a refused or plain
			// connection never was a WebSocket, so the handler hears nothing.
			c.expectEOF()
			if st.Upgraded != 0 {
				t.Errorf("Upgraded = %d, want 0", st.Upgraded)
			}
			select {
			case code := <-h.closeCh:
				t.Errorf("Handler.Close(%d) called for a connection that never opened", code)
			case <-h.openCh:
				t.Error("Handler.Open called for a refused handshake")
			default:
			}
		})
	}
}

// TestHandshakeIncremental feeds a valid request followed by two frames in
// the same write whole, one byte at a time, and in random chunks: the
// request must be recognised wherever the reads split it, and the frames
// that came with it must not be lost.
func TestHandshakeIncremental(t *testing.T) {
	h := newEchoHandler()
	e := startEngine(t, h, nil)
	payload := []byte(upgradeRequest())
	payload = append(payload, frame(1, []byte("first"))...)
	payload = append(payload, frame(2, []byte("second"))...)
	for _, tc := range []struct {
		name  string
		chunk int // 0: whole, else max chunk size
		seed  uint64
	}{{"whole", 0, 0}, {"byte by byte", 1, 0}, {"chunks 1-7", 7, 1}, {"chunks 1-40", 40, 2}, {"chunks 1-100", 100, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialTCP(t, e)
			if tc.chunk == 0 {
				c.send(payload)
			} else {
				c.sendChunked(payload, rand.New(rand.NewPCG(tc.seed, 99)), tc.chunk)
			}
			c.expect101()
			c.expectMessage(1, []byte("first"))
			c.expectMessage(2, []byte("second"))
		})
	}
	// Each request head is counted once however it was split.
	if got := e.Stats().Upgraded; got != 5 {
		t.Fatalf("Upgraded = %d, want 5", got)
	}
}

// TestHandshakeDeadline: a peer that sends half a request head, or nothing,
// and goes silent is dropped by the handshake deadline — not before it, and
// not much after it.
func TestHandshakeDeadline(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	h := newEchoHandler()
	e := startEngine(t, h, func(c *eventloop.Config) { c.HandshakeTimeout = timeout })
	for _, sent := range []string{"", "GET /ws HTTP/1.1\r\nHost: x\r\n", "G"} {
		start := time.Now()
		c := dialTCP(t, e)
		c.send([]byte(sent))
		c.expectEOF()
		if el := time.Since(start); el < timeout-timeout/4 || el > timeout+1500*time.Millisecond {
			t.Errorf("sent %q: dropped after %v, want about %v", sent, el, timeout)
		}
	}
	if got := e.Stats().HandshakeFailures[eventloop.HandshakeTimeout]; got != 3 {
		t.Errorf("HandshakeFailures[timeout] = %d, want 3", got)
	}
	select {
	case <-h.closeCh:
		t.Error("Handler.Close called for a connection that never opened")
	default:
	}
}

// TestMaxConns: past MaxConns an upgrade gets 503; once a connection closes
// there is room again.
func TestMaxConns(t *testing.T) {
	h := newEchoHandler()
	e := startEngine(t, h, func(c *eventloop.Config) { c.MaxConns = 2 })
	a := dialWS(t, e)
	dialWS(t, e)
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+e.Addr()+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third dial: err %v resp %v, want 503", err, resp)
	}
	if got := e.Stats().HandshakeFailures[eventloop.HandshakeFull]; got != 1 {
		t.Fatalf("HandshakeFailures[full] = %d, want 1", got)
	}
	a.send(frame(8, closePayload(1000, "")))
	a.expectClose(1000)
	recvCode(t, h.closeCh)
	dial(t, e)
}

// TestGorillaHandshake: a real client library agrees with the handshake
// (it checks Sec-WebSocket-Accept), and the handler sees the request.
func TestGorillaHandshake(t *testing.T) {
	h := newEchoHandler()
	var got *eventloop.Request
	h.refuse = func(r *eventloop.Request) *eventloop.Response { got = r; return nil }
	e := startEngine(t, h, nil)
	hdr := http.Header{"Origin": {"http://chat.example"}}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+e.Addr()+"/ws/room?id=7", hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	recvOpen(t, h.openCh)
	if got.Path != "/ws/room" || got.RawQuery != "id=7" || got.Get("origin") != "http://chat.example" ||
		got.Host != e.Addr() || !got.Upgrade || got.RemoteAddr != ws.LocalAddr().String() {
		t.Fatalf("request seen by Upgrade: %+v", got)
	}
}
