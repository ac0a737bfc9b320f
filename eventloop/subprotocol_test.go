package eventloop_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/chatd/chatd/eventloop"
)

// TestSubprotocol: the handler sees the offered subprotocols and accepts
// with one of them by setting Request.Subprotocol; the 101 names it. No
// offer, or no choice, means no header; a choice the client did not offer
// is refused with 500 (the client would fail the connection anyway).
func TestSubprotocol(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string // extra request header lines
		choose  string
		offered []string // what the handler must see
		status  int
		header  string // Sec-WebSocket-Protocol of the 101
	}{
		{"offered and chosen", []string{"Sec-WebSocket-Protocol: a, chatd.v2\r\n"}, "chatd.v2",
			[]string{"a", "chatd.v2"}, 101, "chatd.v2"},
		{"over two header lines", []string{"Sec-WebSocket-Protocol: a\r\n", "sec-websocket-protocol: b , chatd.v2\r\n"},
			"chatd.v2", []string{"a", "b", "chatd.v2"}, 101, "chatd.v2"},
		{"none offered", nil, "", nil, 101, ""},
		{"offered, none chosen", []string{"Sec-WebSocket-Protocol: chatd.v2\r\n"}, "", []string{"chatd.v2"}, 101, ""},
		{"chosen but not offered", []string{"Sec-WebSocket-Protocol: a\r\n"}, "chatd.v2", []string{"a"}, 500, ""},
		{"chosen, none offered", nil, "chatd.v2", nil, 500, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newEchoHandler()
			seen := make(chan []string, 1)
			h.refuse = func(r *eventloop.Request) *eventloop.Response {
				seen <- r.Protocols()
				r.Subprotocol = tc.choose
				return nil
			}
			e := startEngine(t, h, nil)
			c := dialTCP(t, e)
			c.send([]byte(upgradeRequest(tc.headers...)))
			resp, _ := c.response()
			if got := <-seen; !slices.Equal(got, tc.offered) {
				t.Fatalf("handler saw %q, want %q", got, tc.offered)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %s, want %d", resp.Status, tc.status)
			}
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); strings.Join(got, ",") != tc.header {
				t.Fatalf("Sec-WebSocket-Protocol %q, want %q", got, tc.header)
			}
			if tc.status != 101 {
				if n := e.Stats().HandshakeFailures[eventloop.HandshakeRefused]; n != 1 {
					t.Fatalf("refused handshakes = %d, want 1", n)
				}
				return
			}
			c.send(frame(1, []byte("v2?")))
			c.expectMessage(1, []byte("v2?"))
		})
	}
}
