package bench

import (
	"strings"
	"testing"
)

func TestAcceptForRFCExample(t *testing.T) {
	// RFC 6455 §1.3.
	if got := string(acceptFor([]byte("dGhlIHNhbXBsZSBub25jZQ=="))); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept %q", got)
	}
}

func TestHandshakeRequest(t *testing.T) {
	tg, err := parseTarget("ws://127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	req := string(appendHandshakeRequest(nil, tg, []byte("KEY"), ""))
	for _, want := range []string{"GET / HTTP/1.1\r\n", "Host: 127.0.0.1:8080\r\n", "Upgrade: websocket\r\n",
		"Connection: Upgrade\r\n", "Sec-WebSocket-Key: KEY\r\n", "Sec-WebSocket-Version: 13\r\n"} {
		if !strings.Contains(req, want) {
			t.Errorf("request lacks %q:\n%s", want, req)
		}
	}
	if !strings.HasSuffix(req, "\r\n\r\n") {
		t.Error("request not terminated")
	}
	tg, _ = parseTarget("ws://localhost:9/ws?x=1")
	if tg.path != "/ws?x=1" || tg.addr.Port != 9 || tg.addr.Addr != [4]byte{127, 0, 0, 1} {
		t.Fatalf("target %+v", tg)
	}
	if _, err := parseTarget("wss://127.0.0.1/"); err == nil {
		t.Fatal("wss accepted")
	}
}

func TestParseHandshakeResponse(t *testing.T) {
	accept := acceptFor([]byte("dGhlIHNhbXBsZSBub25jZQ=="))
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: " + string(accept) + "\r\n\r\n"
	frame := string(serverFrame(true, opText, []byte(`{"type":"connected"}`)))
	resp := []byte(ok + frame)
	for cut := 0; cut < len(ok); cut++ {
		n, err := parseHandshakeResponse(resp[:cut], accept, "")
		if n != 0 || err != nil {
			t.Fatalf("cut %d: n=%d err=%v", cut, n, err)
		}
	}
	n, err := parseHandshakeResponse(resp, accept, "")
	if err != nil || n != len(ok) {
		t.Fatalf("n=%d err=%v", n, err)
	}
	bad := map[string]string{
		"status":     "HTTP/1.1 400 Bad Request\r\n\r\n",
		"accept":     "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n",
		"no upgrade": "HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + string(accept) + "\r\n\r\n",
		"no accept":  "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	}
	for name, r := range bad {
		if _, err := parseHandshakeResponse([]byte(r), accept, ""); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := parseHandshakeResponse([]byte(strings.Repeat("x", 9000)), accept, ""); err == nil {
		t.Error("endless headers accepted")
	}
}

// v2: the subprotocol is offered, and a server that does not select it is refused.
func TestHandshakeSubprotocol(t *testing.T) {
	tg, err := parseTarget("ws://127.0.0.1:9/ws")
	if err != nil {
		t.Fatal(err)
	}
	if req := string(appendHandshakeRequest(nil, tg, []byte("KEY"), "chatd.v2")); !strings.Contains(req, "\r\nSec-WebSocket-Protocol: chatd.v2\r\n") {
		t.Fatalf("request %q", req)
	}
	accept := acceptFor([]byte("KEY"))
	base := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + string(accept) + "\r\n"
	if _, err := parseHandshakeResponse([]byte(base+"Sec-WebSocket-Protocol: chatd.v2\r\n\r\n"), accept, "chatd.v2"); err != nil {
		t.Fatal(err)
	}
	if _, err := parseHandshakeResponse([]byte(base+"\r\n"), accept, "chatd.v2"); err == nil || !strings.Contains(err.Error(), "no protocol v2") {
		t.Fatalf("v1 answer to a v2 offer: %v", err)
	}
}
