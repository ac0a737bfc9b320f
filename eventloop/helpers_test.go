package eventloop_test

// Raw-TCP test helpers: a builder for client frames with arbitrary header
// fields, a parser for server frames, and a minimal client that speaks the
// handshake by hand so tests can send malformed input.

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chatd/chatd/eventloop"
)

// wait bounds every blocking step of a test.
const wait = 5 * time.Second

// cframe is a client frame. Every header field can be set, including ones a
// well-behaved client never sends.
type cframe struct {
	notFin   bool   // FIN clear
	rsv      byte   // RSV1..3 as a 3-bit value
	op       byte   // opcode, 4 bits
	unmasked bool   // MASK bit clear (and no key)
	length   *int64 // declared payload length; nil: len(payload)
	lenForm  int    // 0: shortest; 2: force 16-bit; 8: force 64-bit
	key      [4]byte
	payload  []byte
}

// bytes encodes the frame, masking the payload with the key.
func (f cframe) bytes() []byte {
	n := int64(len(f.payload))
	if f.length != nil {
		n = *f.length
	}
	b0 := f.op & 0x0F
	if !f.notFin {
		b0 |= 0x80
	}
	b0 |= (f.rsv & 7) << 4
	var mask byte
	if !f.unmasked {
		mask = 0x80
	}
	out := []byte{b0}
	switch form := f.lenForm; {
	case form == 8 || (form == 0 && uint64(n) > 0xFFFF):
		out = append(out, mask|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	case form == 2 || (form == 0 && n > 125):
		out = append(out, mask|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, mask|byte(n))
	}
	p := append([]byte(nil), f.payload...)
	if !f.unmasked {
		out = append(out, f.key[:]...)
		for i := range p {
			p[i] ^= f.key[i%4]
		}
	}
	return append(out, p...)
}

var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// frame is a final masked frame.
func frame(op byte, payload []byte) []byte {
	return cframe{op: op, key: testKey, payload: payload}.bytes()
}

// frag is a masked frame with FIN as given.
func frag(op byte, payload []byte, fin bool) []byte {
	return cframe{op: op, notFin: !fin, key: testKey, payload: payload}.bytes()
}

// closePayload is a close frame body: code and reason.
func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

func i64(v int64) *int64 { return &v }

// sframe is a frame read from the server.
type sframe struct {
	fin     bool
	rsv     byte
	op      byte
	payload []byte
}

func (f sframe) String() string {
	if f.op == 8 {
		return fmt.Sprintf("close(%d %q)", f.closeCode(), f.payload)
	}
	return fmt.Sprintf("op=%d fin=%v len=%d", f.op, f.fin, len(f.payload))
}

// closeCode returns the code of a close frame, 1005 when it has none.
func (f sframe) closeCode() int {
	if len(f.payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

// readServerFrame parses one server frame; it fails on anything a server must
// not send (mask, RSV bits, non-minimal lengths are tolerated).
func readServerFrame(r *bufio.Reader) (sframe, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return sframe{}, err
	}
	f := sframe{fin: h[0]&0x80 != 0, rsv: (h[0] >> 4) & 7, op: h[0] & 0x0F}
	if h[1]&0x80 != 0 {
		return f, errors.New("server frame is masked")
	}
	if f.rsv != 0 {
		return f, errors.New("server frame has RSV bits")
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<24 {
		return f, fmt.Errorf("server frame of %d bytes", n)
	}
	f.payload = make([]byte, n)
	_, err := io.ReadFull(r, f.payload)
	return f, err
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// rawClient is a TCP connection driven by hand.
type rawClient struct {
	t testing.TB
	net.Conn
	r  *bufio.Reader
	in *countingReader // the bytes read from the connection (dialTCP's clients only)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// received is the number of bytes the server sent that c has read from the
// connection so far (all of them once c has read what it expects).
func (c *rawClient) received() int64 { return c.in.n }

// dialTCP opens a plain TCP connection to the engine.
func dialTCP(t testing.TB, e *eventloop.Engine) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", e.Addr(), wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	in := &countingReader{r: c}
	return &rawClient{t: t, Conn: c, r: bufio.NewReader(in), in: in}
}

// upgradeRequest is a valid upgrade request head with extra header lines.
func upgradeRequest(extra ...string) string {
	return "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		strings.Join(extra, "") + "\r\n"
}

// acceptFor computes Sec-WebSocket-Accept independently of the package.
func acceptFor(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// dialWS opens a WebSocket over a raw connection.
func dialWS(t testing.TB, e *eventloop.Engine) *rawClient {
	t.Helper()
	c := dialTCP(t, e)
	c.send([]byte(upgradeRequest()))
	c.expect101()
	return c
}

// send writes all of b (fails the test on error).
func (c *rawClient) send(bs ...[]byte) {
	c.t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(wait))
	for _, b := range bs {
		if _, err := c.Write(b); err != nil {
			c.t.Fatalf("write: %v", err)
		}
	}
}

// sendChunked writes b in pieces of random sizes in [1, max].
func (c *rawClient) sendChunked(b []byte, rng *rand.Rand, maxChunk int) {
	c.t.Helper()
	for len(b) > 0 {
		k := min(len(b), 1+rng.IntN(maxChunk))
		c.send(b[:k])
		b = b[k:]
	}
}

// response reads one HTTP response head (and body).
func (c *rawClient) response() (*http.Response, string) {
	c.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// expect101 reads the 101 response and checks it.
func (c *rawClient) expect101() {
	c.t.Helper()
	resp, _ := c.response()
	if resp.StatusCode != 101 {
		c.t.Fatalf("status %s, want 101", resp.Status)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		!strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
		c.t.Fatalf("bad 101 headers: %v", resp.Header)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), acceptFor("dGhlIHNhbXBsZSBub25jZQ=="); got != want {
		c.t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
}

// next reads one server frame within the test deadline.
func (c *rawClient) next() sframe {
	c.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	f, err := readServerFrame(c.r)
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	return f
}

// nextData reads the next frame that is not a ping.
func (c *rawClient) nextData() sframe {
	c.t.Helper()
	for {
		if f := c.next(); f.op != 9 {
			return f
		}
	}
}

// expectMessage reads one frame and checks opcode and payload.
func (c *rawClient) expectMessage(op byte, payload []byte) {
	c.t.Helper()
	f := c.nextData()
	if !f.fin || f.op != op || string(f.payload) != string(payload) {
		c.t.Fatalf("got %v %.40q, want op=%d len=%d %.40q", f, f.payload, op, len(payload), payload)
	}
}

// expectClose reads frames (skipping pings) until a close frame, checks its
// code, then expects the server to close TCP.
func (c *rawClient) expectClose(code int) {
	c.t.Helper()
	f := c.nextData()
	if f.op != 8 {
		c.t.Fatalf("got %v, want close %d", f, code)
	}
	if f.closeCode() != code {
		c.t.Fatalf("got close %d %q, want %d", f.closeCode(), f.payload, code)
	}
	if len(f.payload) > 2 && !utf8.Valid(f.payload[2:]) {
		c.t.Fatalf("close reason not UTF-8: %q", f.payload[2:])
	}
	c.expectEOF()
}

// expectEOF expects the server to close TCP, with nothing more sent.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	b, err := c.r.ReadByte()
	if err == nil {
		c.t.Fatalf("got byte %#x, want EOF", b)
	}
	if !isClosedErr(err) {
		c.t.Fatalf("got %v, want EOF", err)
	}
}

// isClosedErr reports whether err is the peer closing (EOF or reset), not a
// timeout.
func isClosedErr(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset")
}

// recvCode waits for the handler's Close callback.
func recvCode(t testing.TB, ch <-chan eventloop.CloseCode) eventloop.CloseCode {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(wait):
		t.Fatal("Handler.Close not called")
	}
	return 0
}

// recvOpen waits for the handler's Open callback.
func recvOpen(t testing.TB, ch <-chan *eventloop.Conn) *eventloop.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(wait):
		t.Fatal("Handler.Open not called")
	}
	return nil
}

// waitFor polls cond (for counters that have no event to wait on) until it
// holds or the test deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// dialMany opens n raw WebSockets with a few dialers at once. They use a
// small read buffer: thousands of them are opened at a time.
func dialMany(t testing.TB, e *eventloop.Engine, n int) []*rawClient {
	t.Helper()
	cs := make([]*rawClient, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	next := 0
	for range 16 {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				nc, err := net.DialTimeout("tcp", e.Addr(), wait)
				if err != nil {
					errs <- err
					return
				}
				c := &rawClient{t: t, Conn: nc, r: bufio.NewReaderSize(nc, 1024)}
				cs[i] = c
				_ = nc.SetDeadline(time.Now().Add(wait))
				if _, err := io.WriteString(nc, upgradeRequest()); err != nil {
					errs <- err
					return
				}
				if s, err := c.r.ReadString('\n'); err != nil || s != "HTTP/1.1 101 Switching Protocols\r\n" {
					errs <- fmt.Errorf("handshake: %q %v", s, err)
					return
				}
				for {
					s, err := c.r.ReadString('\n')
					if err != nil {
						errs <- err
						return
					}
					if s == "\r\n" {
						break
					}
				}
				_ = nc.SetDeadline(time.Time{})
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
	})
	select {
	case err := <-errs:
		t.Fatalf("dialing %d clients: %v", n, err)
	default:
	}
	return cs
}
