package eventloop_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/chatd/chatd/eventloop"
)

// The closing of TCP after a close frame (RFC 6455 §7.1.1, §7.1.7), seen from
// a raw socket. These engines keep the default CloseTimeout (3 s), so only
// the server closing TCP itself can pass the 100 ms bound.

// tcpCloseBound is how soon after its close frame (or after the peer's
// answer to it) the server must close TCP.
const tcpCloseBound = 100 * time.Millisecond

// expectEOFWithin expects a clean EOF (the server's FIN, no more bytes)
// within d. The read deadline is only an upper bound: the read returns as
// soon as the FIN arrives.
func (c *rawClient) expectEOFWithin(d time.Duration) {
	c.t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(d))
	b, err := c.r.ReadByte()
	switch {
	case err == nil:
		c.t.Fatalf("got byte %#x, want EOF", b)
	case !errors.Is(err, io.EOF):
		c.t.Fatalf("no EOF within %v of the close frame: %v", d, err)
	}
}

// readClose reads the server's close frame and checks its code.
func (c *rawClient) readClose(code int) {
	c.t.Helper()
	f := c.nextData()
	if f.op != 8 || f.closeCode() != code {
		c.t.Fatalf("got %v, want close %d", f, code)
	}
}

// defaultCloseEngine is an echo engine with the default CloseTimeout.
func defaultCloseEngine(t *testing.T, onMsg ...func(*eventloop.Conn, []byte, bool)) (*eventloop.Engine, *echoHandler) {
	t.Helper()
	h := newEchoHandler()
	if len(onMsg) > 0 {
		h.onMsg = onMsg[0]
	}
	e := startEngine(t, h, func(c *eventloop.Config) { c.MaxMessageBytes = 1024 })
	return e, h
}

// After a protocol error the server sends its close frame and closes TCP as
// soon as the frame is out: the peer's input can no longer be parsed, so
// there is no close frame to wait for.
func TestTCPClosedAfterProtocolError(t *testing.T) {
	e, h := defaultCloseEngine(t)
	for _, tc := range []struct {
		name string
		wire []byte
		code int
	}{
		{"unmasked", cframe{op: 1, unmasked: true, payload: []byte("hi")}.bytes(), 1002},
		{"reserved opcode", frame(3, []byte("x")), 1002},
		{"close code 1004", frame(8, closePayload(1004, "")), 1002},
		{"text not UTF-8", frame(1, []byte("abc\xff")), 1007},
		{"too big", cframe{op: 2, key: testKey, length: i64(1 << 20)}.bytes(), 1009},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialWS(t, e)
			recvOpen(t, h.openCh)
			c.send(tc.wire)
			c.readClose(tc.code)
			c.expectEOFWithin(tcpCloseBound)
			if got := recvCode(t, h.closeCh); int(got) != tc.code {
				t.Fatalf("Handler.Close(%d), want %d", got, tc.code)
			}
		})
	}
}

// A close frame from the client is echoed and TCP closed right after.
func TestTCPClosedAfterClientClose(t *testing.T) {
	e, h := defaultCloseEngine(t)
	for _, code := range []uint16{1000, 1001, 4000} {
		c := dialWS(t, e)
		recvOpen(t, h.openCh)
		c.send(frame(8, closePayload(code, "bye")))
		c.readClose(int(code))
		c.expectEOFWithin(tcpCloseBound)
		if got := recvCode(t, h.closeCh); int(got) != int(code) {
			t.Fatalf("Handler.Close(%d), want %d", got, code)
		}
	}
}

// A server-initiated close: once the client answers with its close frame,
// the server closes TCP at once, not after CloseTimeout.
func TestTCPClosedAfterServerCloseAnswered(t *testing.T) {
	e, h := defaultCloseEngine(t, func(c *eventloop.Conn, p []byte, binary bool) {
		c.Close(eventloop.CloseGoingAway, "bye")
	})
	c := dialWS(t, e)
	recvOpen(t, h.openCh)
	c.send(frame(1, []byte("close me")))
	c.readClose(1001)
	c.send(frame(8, closePayload(1001, "")))
	c.expectEOFWithin(tcpCloseBound)
	if got := recvCode(t, h.closeCh); got != eventloop.CloseGoingAway {
		t.Fatalf("Handler.Close(%d), want 1001", got)
	}
}

// Close codes registered with IANA after RFC 6455 (1012 service restart,
// 1013 try again later, 1014 bad gateway) are valid from a peer; codes the
// RFC says must never be sent (1004 reserved, 1005, 1006, 1015) are
// protocol errors.
func TestPeerCloseCodes(t *testing.T) {
	e, h := defaultCloseEngine(t)
	for _, tc := range []struct {
		code uint16
		want int // the code the server closes with: the echo, or 1002
	}{
		{1012, 1012}, {1013, 1013}, {1014, 1014},
		{1004, 1002}, {1005, 1002}, {1006, 1002}, {1015, 1002},
	} {
		t.Run(itoa(int(tc.code)), func(t *testing.T) {
			before := e.Stats().ProtocolErrors
			c := dialWS(t, e)
			recvOpen(t, h.openCh)
			c.send(frame(8, closePayload(tc.code, "")))
			c.readClose(tc.want)
			c.expectEOFWithin(tcpCloseBound)
			if got := recvCode(t, h.closeCh); int(got) != tc.want {
				t.Fatalf("Handler.Close(%d), want %d", got, tc.want)
			}
			errs := e.Stats().ProtocolErrors - before
			if wantErr := tc.want == 1002; (errs == 1) != wantErr || errs > 1 {
				t.Fatalf("%d protocol errors counted, want error=%v", errs, wantErr)
			}
		})
	}
}
