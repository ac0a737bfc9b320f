package eventloop

// White-box tests of the pure parsers: the frame decoder against a fake
// buffer (every way of splitting the input must give the same events), the
// request parser, and the incremental UTF-8 validator.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// fakeSource is a connection's inbound buffer without a connection. It
// records the largest peek made while the frame at the head was incomplete.
type fakeSource struct {
	b       []byte
	maxPeek int
}

func (s *fakeSource) Peek(n int) ([]byte, error) {
	if n > len(s.b) {
		return nil, io.ErrShortBuffer
	}
	s.maxPeek = max(s.maxPeek, n)
	return s.b[:n], nil
}

func (s *fakeSource) InboundBuffered() int { return len(s.b) }

// maskedFrame encodes a client frame (FIN as given, RSV clear, masked).
func maskedFrame(fin bool, op ws.OpCode, key [4]byte, p []byte) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(p); {
	case n <= 125:
		out = append(out, 0x80|byte(n))
	case n <= 0xFFFF:
		out = append(out, 0x80|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	out = append(out, key[:]...)
	start := len(out)
	out = append(out, p...)
	ws.Cipher(out[start:], key, 0)
	return out
}

var key1 = [4]byte{1, 2, 3, 4}

func mf(op ws.OpCode, p string) []byte { return maskedFrame(true, op, key1, []byte(p)) }
func mfrag(op ws.OpCode, p string, fin bool) []byte {
	return maskedFrame(fin, op, key1, []byte(p))
}

// rec is one decoder event, with its payload copied.
type rec struct {
	kind    eventKind
	binary  bool
	payload string
	n       int
	code    CloseCode
}

func (r rec) String() string {
	return fmt.Sprintf("{%d bin=%v %.20q n=%d code=%d}", r.kind, r.binary, r.payload, r.n, r.code)
}

// decodeChunks feeds data to a decoder in the given chunk sizes (the last
// chunk takes the rest) and returns the events, stopping after an error or
// a close as the engine does. Fragment events are kept: their sequence must
// not depend on the chunking either.
func decodeChunks(t testing.TB, data []byte, chunks []int, limit int) []rec {
	var d decoder
	src := &fakeSource{}
	var out []rec
	pos := 0
	for ci := 0; pos < len(data); ci++ {
		k := len(data) - pos
		if ci < len(chunks) {
			k = min(k, chunks[ci])
		}
		src.b = append(src.b, data[pos:pos+k]...)
		pos += k
		for {
			before := len(src.b)
			ev := d.next(src, limit, -1)
			if ev.kind == evNeedMore {
				if ev.n != 0 {
					t.Fatalf("evNeedMore consumed %d bytes", ev.n)
				}
				break
			}
			out = append(out, rec{ev.kind, ev.binary, string(ev.payload), ev.n, ev.code})
			if ev.kind == evError || ev.kind == evClose {
				return out
			}
			if ev.n <= 0 || ev.n > before {
				t.Fatalf("event %v consumed %d of %d buffered bytes", ev.kind, ev.n, before)
			}
			src.b = src.b[ev.n:]
		}
	}
	return out
}

// splits returns the chunkings every test runs: whole, byte by byte, and a
// few random ones.
func splits(n int, seed uint64) [][]int {
	ones := make([]int, n)
	for i := range ones {
		ones[i] = 1
	}
	out := [][]int{nil, ones}
	rng := rand.New(rand.NewPCG(seed, 1))
	for range 4 {
		var c []int
		for s := 0; s < n; {
			k := 1 + rng.IntN(20)
			c = append(c, k)
			s += k
		}
		out = append(out, c)
	}
	return out
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestDecoderEvents(t *testing.T) {
	msg := func(bin bool, p string) rec {
		return rec{kind: evMessage, binary: bin, payload: p}
	}
	fragEv := rec{kind: evFragment}
	errEv := func(code CloseCode) rec { return rec{kind: evError, code: code} }
	big := strings.Repeat("x", 70000)
	for _, tc := range []struct {
		name  string
		wire  []byte
		limit int
		want  []rec // n is checked separately
	}{
		{"text", mf(ws.OpText, "hello"), 100, []rec{msg(false, "hello")}},
		{"binary", mf(ws.OpBinary, "\x00\xff"), 100, []rec{msg(true, "\x00\xff")}},
		{"empty text", mf(ws.OpText, ""), 100, []rec{msg(false, "")}},
		{"16-bit length", mf(ws.OpBinary, strings.Repeat("a", 300)), 1000, []rec{msg(true, strings.Repeat("a", 300))}},
		{"64-bit length", mf(ws.OpBinary, big), 70000, []rec{msg(true, big)}},
		{"many frames", cat(mf(ws.OpText, "a"), mf(ws.OpBinary, "b"), mf(ws.OpText, "c")), 100,
			[]rec{msg(false, "a"), msg(true, "b"), msg(false, "c")}},
		{"fragments with ping and pong", cat(mfrag(ws.OpText, "he", false), mf(ws.OpPing, "p"), mfrag(ws.OpContinuation, "ll", false),
			mf(ws.OpPong, "q"), mfrag(ws.OpContinuation, "o", true)), 100,
			[]rec{fragEv, {kind: evPing, payload: "p"}, fragEv, {kind: evPong}, msg(false, "hello")}},
		{"two fragmented messages", cat(mfrag(ws.OpBinary, "a", false), mfrag(ws.OpContinuation, "b", true),
			mfrag(ws.OpText, "c", false), mfrag(ws.OpContinuation, "d", true)), 100,
			[]rec{fragEv, msg(true, "ab"), fragEv, msg(false, "cd")}},
		{"close with code", mf(ws.OpClose, "\x03\xe8bye"), 100, []rec{{kind: evClose, payload: "\x03\xe8bye", code: 1000}}},
		{"close empty", mf(ws.OpClose, ""), 100, []rec{{kind: evClose, code: CloseNoStatus}}},
		{"message at limit", mf(ws.OpBinary, strings.Repeat("z", 200)), 200, []rec{msg(true, strings.Repeat("z", 200))}},
		{"message over limit", mf(ws.OpBinary, strings.Repeat("z", 201)), 200, []rec{errEv(CloseTooBig)}},
		{"fragments at limit", cat(mfrag(ws.OpText, strings.Repeat("z", 150), false), mfrag(ws.OpContinuation, strings.Repeat("z", 50), true)), 200,
			[]rec{fragEv, msg(false, strings.Repeat("z", 200))}},
		{"fragments over limit", cat(mfrag(ws.OpText, strings.Repeat("z", 150), false), mfrag(ws.OpContinuation, strings.Repeat("z", 51), true)), 200,
			[]rec{fragEv, errEv(CloseTooBig)}},
		{"ping not bound by a small limit", mf(ws.OpPing, strings.Repeat("p", 125)), 125, []rec{{kind: evPing, payload: strings.Repeat("p", 125)}}},
		{"unmasked", []byte{0x81, 0x01, 'a'}, 100, []rec{errEv(CloseProtocolError)}},
		{"rsv", cat([]byte{0xC1}, mf(ws.OpText, "a")[1:]), 100, []rec{errEv(CloseProtocolError)}},
		{"reserved opcode", mf(ws.OpCode(0x3), "a"), 100, []rec{errEv(CloseProtocolError)}},
		{"control too long", mf(ws.OpPing, strings.Repeat("p", 126)), 1000, []rec{errEv(CloseProtocolError)}},
		{"control fragmented", mfrag(ws.OpPong, "p", false), 100, []rec{errEv(CloseProtocolError)}},
		{"continuation first", mf(ws.OpContinuation, "a"), 100, []rec{errEv(CloseProtocolError)}},
		{"data inside fragmented", cat(mfrag(ws.OpText, "a", false), mf(ws.OpText, "b")), 100, []rec{fragEv, errEv(CloseProtocolError)}},
		{"length MSB", cat([]byte{0x82, 0xFF}, bytes.Repeat([]byte{0xFF}, 8), key1[:]), 100, []rec{errEv(CloseProtocolError)}},
		{"close 1 byte", mf(ws.OpClose, "\x03"), 100, []rec{errEv(CloseProtocolError)}},
		{"close code 1005", mf(ws.OpClose, "\x03\xed"), 100, []rec{errEv(CloseProtocolError)}},
		{"close reason not UTF-8", mf(ws.OpClose, "\x03\xe8\xff"), 100, []rec{errEv(CloseInvalidPayload)}},
		{"text not UTF-8", mf(ws.OpText, "a\xffb"), 100, []rec{errEv(CloseInvalidPayload)}},
		{"UTF-8 split over fragments", cat(mfrag(ws.OpText, "\xe2", false), mfrag(ws.OpContinuation, "\x82", false), mfrag(ws.OpContinuation, "\xac", true)), 100,
			[]rec{fragEv, fragEv, msg(false, "€")}},
		{"UTF-8 invalid at first fragment", mfrag(ws.OpText, "\xe2\x28", false), 100, []rec{errEv(CloseInvalidPayload)}},
		{"UTF-8 incomplete at fin", cat(mfrag(ws.OpText, "ok", false), mfrag(ws.OpContinuation, "\xe2\x82", true)), 100,
			[]rec{fragEv, errEv(CloseInvalidPayload)}},
		{"UTF-8 state reset between messages", cat(mfrag(ws.OpBinary, "\xe2", false), mfrag(ws.OpContinuation, "", true), mf(ws.OpText, "\x82")), 100,
			[]rec{fragEv, msg(true, "\xe2"), errEv(CloseInvalidPayload)}},
	} {
		for i, chunks := range splits(len(tc.wire), uint64(len(tc.wire))) {
			got := decodeChunks(t, tc.wire, chunks, tc.limit)
			for j := range got {
				got[j].n = 0
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("%s (split %d): got %v, want %v", tc.name, i, got, tc.want)
			}
		}
	}
}

// TestDecoderEverySplit cuts a stream of varied frames at every position
// (in two) and checks the events are those of the stream fed whole.
func TestDecoderEverySplit(t *testing.T) {
	wire := cat(mf(ws.OpText, "héllo"), mfrag(ws.OpBinary, strings.Repeat("b", 130), false), mf(ws.OpPing, "ping"),
		mfrag(ws.OpContinuation, "", false), mfrag(ws.OpContinuation, "end", true), mf(ws.OpPong, ""),
		mfrag(ws.OpText, "\xf0\x9f", false), mfrag(ws.OpContinuation, "\x91\x8b", true), mf(ws.OpClose, "\x0f\xa0"))
	want := decodeChunks(t, bytes.Clone(wire), nil, 1000)
	if len(want) != 9 || want[8].kind != evClose || want[8].code != 4000 {
		t.Fatalf("whole: %v", want)
	}
	for cut := 1; cut < len(wire); cut++ {
		got := decodeChunks(t, bytes.Clone(wire), []int{cut}, 1000)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("cut at %d: got %v, want %v", cut, got, want)
		}
	}
}

// TestDecoderNoBufferingOfBigFrames: an incomplete frame costs a header
// peek, not a payload peek; a frame declared over the limit is refused
// from its header alone; and no buffer is kept between messages.
func TestDecoderNoBufferingOfBigFrames(t *testing.T) {
	var d decoder
	head := maskedFrame(true, ws.OpBinary, key1, make([]byte, 60000))
	src := &fakeSource{b: head[:1000]}
	if ev := d.next(src, 1<<20, -1); ev.kind != evNeedMore {
		t.Fatalf("incomplete frame: %v", ev.kind)
	}
	if src.maxPeek > ws.MaxHeaderSize {
		t.Fatalf("peeked %d bytes of an incomplete frame", src.maxPeek)
	}
	for _, n := range []uint64{1 << 40, 1<<63 - 1, 70000} {
		h := cat([]byte{0x82, 0xFF}, binary.BigEndian.AppendUint64(nil, n), key1[:])
		src := &fakeSource{b: h}
		if ev := d.next(src, 65536, -1); ev.kind != evError || ev.code != CloseTooBig {
			t.Fatalf("declared %d: %v %d", n, ev.kind, ev.code)
		}
		if src.maxPeek > ws.MaxHeaderSize {
			t.Fatalf("declared %d: peeked %d", n, src.maxPeek)
		}
	}
	src = &fakeSource{b: cat(mfrag(ws.OpText, "ab", false), mfrag(ws.OpContinuation, "c", true))}
	for {
		ev := d.next(src, 100, -1)
		if ev.kind == evMessage {
			break
		}
		src.b = src.b[ev.n:]
	}
	if d.frag != nil || d.fragOp != 0 || d.utf8 != utf8Accept {
		t.Fatalf("decoder keeps state after a message: %+v", d)
	}
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		ok   bool
		size int
		h    ws.Header
	}{
		{[]byte{0x81}, false, 0, ws.Header{}},
		{[]byte{0x81, 0x05}, true, 2, ws.Header{Fin: true, OpCode: ws.OpText, Length: 5}},
		{[]byte{0x81, 0x85, 1, 2, 3}, false, 6, ws.Header{}},
		{[]byte{0x02, 0x85, 1, 2, 3, 4}, true, 6, ws.Header{OpCode: ws.OpBinary, Masked: true, Length: 5, Mask: [4]byte{1, 2, 3, 4}}},
		{[]byte{0xF9, 0x00}, true, 2, ws.Header{Fin: true, Rsv: 7, OpCode: ws.OpPing}},
		{[]byte{0x82, 0xFE, 0x01}, false, 8, ws.Header{}},
		{[]byte{0x82, 0xFE, 0x01, 0x00, 9, 9, 9, 9}, true, 8, ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Length: 256, Mask: [4]byte{9, 9, 9, 9}}},
		{[]byte{0x82, 0x7F, 0, 0, 0, 1, 0, 0, 0, 0}, true, 10, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 1 << 32}},
		{[]byte{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0}, true, 10, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: -1}},
		{[]byte{0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 5, 6, 7}, false, 14, ws.Header{}},
	} {
		h, size, ok := parseHeader(tc.b)
		if ok != tc.ok || size != tc.size || (ok && h != tc.h) {
			t.Errorf("% x: got %+v %d %v, want %+v %d %v", tc.b, h, size, ok, tc.h, tc.size, tc.ok)
		}
	}
}

// TestServerFrames: what AppendFrame and PutFrameHeader encode parses back.
func TestServerFrames(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536, 1 << 20} {
		p := bytes.Repeat([]byte{7}, n)
		f := AppendFrame(nil, ws.OpBinary, p)
		h, size, ok := parseHeader(f)
		if !ok || size != FrameHeaderSize(n) || h.Length != int64(n) || !h.Fin || h.Masked || h.OpCode != ws.OpBinary ||
			!bytes.Equal(f[size:], p) {
			t.Fatalf("n=%d: %+v size %d", n, h, size)
		}
	}
	if f := TextFrame([]byte("hi")); !bytes.Equal(f, []byte{0x81, 2, 'h', 'i'}) {
		t.Fatalf("TextFrame: % x", f)
	}
	for _, reason := range []string{"", "short", strings.Repeat("é", 100), strings.Repeat("a", 122) + "€"} {
		f := closeFrame(CloseGoingAway, reason)
		if len(f) > 2+125 || f[1] != byte(len(f)-2) || binary.BigEndian.Uint16(f[2:]) != 1001 || !utf8.Valid(f[4:]) ||
			!strings.HasPrefix(reason, string(f[4:])) || len(f[4:]) < min(len(reason), 120) {
			t.Fatalf("closeFrame(%q) = % x", reason, f)
		}
	}
}

func TestValidPeerCloseCode(t *testing.T) {
	for code := 0; code <= 0xFFFF; code++ {
		want := (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
		if validPeerCloseCode(uint16(code)) != want {
			t.Errorf("validPeerCloseCode(%d) = %v", code, !want)
		}
	}
}

// TestFindHeadEnd: searching a growing buffer from where the last search
// stopped finds the same end as searching it whole, wherever it grew.
func TestFindHeadEnd(t *testing.T) {
	for _, s := range []string{"GET / HTTP/1.1\r\n\r\n", "a\r\nb\r\n\r\nrest\r\n\r\n", "\r\n\r\n", "\r\r\n\n\r\n\r\n", "no end\r\n\r", "x\n\r\n\r\n"} {
		want := strings.Index(s, "\r\n\r\n")
		if want >= 0 {
			want += 4
		}
		if got := findHeadEnd([]byte(s), 0); got != want {
			t.Errorf("%q: %d, want %d", s, got, want)
		}
		for _, chunks := range splits(len(s), 3) {
			if got := incrementalHeadEnd([]byte(s), chunks); got != want {
				t.Errorf("%q split %v: %d, want %d", s, chunks, got, want)
			}
		}
	}
}

// incrementalHeadEnd searches as the handshake does: the buffer grows by
// the given chunks and each search resumes where the last one stopped.
func incrementalHeadEnd(b []byte, chunks []int) int {
	scanned, have := 0, 0
	for ci := 0; have < len(b); ci++ {
		k := len(b) - have
		if ci < len(chunks) {
			k = min(k, chunks[ci])
		}
		have += k
		if end := findHeadEnd(b[:have], scanned); end >= 0 {
			return end
		}
		scanned = have
	}
	return -1
}

func TestParseRequest(t *testing.T) {
	const valid = "GET /chat/ws?room=1&x=%20 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\n" +
		"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\nX-Empty:\r\n\r\n"
	head := []byte(valid)
	r, err := parseRequest(head)
	if err != nil || !r.Upgrade {
		t.Fatalf("valid: %v %+v", err, r)
	}
	if r.Method != "GET" || r.Target != "/chat/ws?room=1&x=%20" || r.Path != "/chat/ws" || r.RawQuery != "room=1&x=%20" ||
		r.Proto != "HTTP/1.1" || r.Host != "example.com:8080" || r.Get("ORIGIN") != "http://example.com" ||
		r.Get("x-empty") != "" || len(r.Header) != 7 || r.key != "dGhlIHNhbXBsZSBub25jZQ==" {
		t.Fatalf("fields: %+v", r)
	}
	// Strings are copies: the buffer they came from is reused by gnet.
	for i := range head {
		head[i] = '#'
	}
	if r.Path != "/chat/ws" || r.Get("Origin") != "http://example.com" {
		t.Fatalf("request aliases the buffer: %+v", r)
	}
	// RFC 6455 §1.3's example.
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("acceptKey = %q", got)
	}
	if resp := switchingProtocols("dGhlIHNhbXBsZSBub25jZQ==", ""); !bytes.Contains(resp, []byte("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")) ||
		!bytes.HasSuffix(resp, []byte("\r\n\r\n")) {
		t.Fatalf("101: %q", resp)
	}

	for _, tc := range []struct {
		name    string
		replace [2]string
		err     error
		status  int
	}{
		{"POST", [2]string{"GET ", "POST "}, errNotGET, 400},
		{"HTTP/1.0", [2]string{"HTTP/1.1\r\nHost", "HTTP/1.0\r\nHost"}, errNotGET, 400},
		{"no Host", [2]string{"Host: example.com:8080\r\n", ""}, errNoHost, 400},
		{"no upgrade token", [2]string{"keep-alive, Upgrade", "keep-alive"}, errBadConnection, 400},
		{"version 8", [2]string{"Version: 13", "Version: 8"}, errBadVersion, 426},
		{"version 13 with junk", [2]string{"Version: 13", "Version: 13, 8"}, errBadVersion, 426},
		{"short key", [2]string{"dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ=="}, errBadKey, 400},
		{"bad key", [2]string{"dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ=!"}, errBadKey, 400},
		{"bad request line", [2]string{"GET /chat", "GET  /chat"}, errMalformed, 400},
		{"lowercase proto", [2]string{"HTTP/1.1\r\nHost", "http/1.1\r\nHost"}, errMalformed, 400},
		{"HTTP/1.2", [2]string{"HTTP/1.1\r\nHost", "HTTP/1.2\r\nHost"}, errMalformed, 400},
		{"DEL in value", [2]string{"http://example.com", "http://exa\x7fmple.com"}, errMalformed, 400},
		{"bare LF line", [2]string{"Origin: http://example.com\r\n", "Origin: x\nEvil: y\r\n"}, errMalformed, 400},
		{"empty header name", [2]string{"X-Empty:", ": v"}, errMalformed, 400},
		{"CR in target", [2]string{"/chat/ws?", "/chat/\rws?"}, errMalformed, 400},
		{"control byte in target", [2]string{"/chat/ws?", "/chat/\x00ws?"}, errMalformed, 400},
	} {
		s := strings.Replace(valid, tc.replace[0], tc.replace[1], 1)
		if s == valid {
			t.Fatalf("%s: replacement did not apply", tc.name)
		}
		_, err := parseRequest([]byte(s))
		if err != tc.err || statusFor(err) != tc.status {
			t.Errorf("%s: err %v (status %d), want %v (%d)", tc.name, err, statusFor(err), tc.err, tc.status)
		}
	}
	// Not an upgrade: a plain request for the handler, whatever else it has.
	for _, s := range []string{"GET / HTTP/1.1\r\n\r\n", "HEAD /x HTTP/1.0\r\n\r\n", "POST /x HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: websockets\r\nConnection: upgrade\r\n\r\n"} {
		r, err := parseRequest([]byte(s))
		if err != nil || r.Upgrade {
			t.Errorf("%q: %v %+v", s, err, r)
		}
	}
	if statusFor(errHeaderTooLarge) != 431 {
		t.Error("errHeaderTooLarge is not 431")
	}
}

func TestHasToken(t *testing.T) {
	for _, tc := range []struct {
		v, tok string
		want   bool
	}{
		{"Upgrade", "upgrade", true}, {"keep-alive, Upgrade", "upgrade", true}, {"keep-alive,UPGRADE", "upgrade", true},
		{" upgrade ,x", "upgrade", true}, {"upgrades", "upgrade", false}, {"", "upgrade", false},
		{"keep-alive", "upgrade", false}, {"up grade", "upgrade", false}, {",,upgrade,,", "upgrade", true},
	} {
		if got := hasToken(tc.v, tc.tok); got != tc.want {
			t.Errorf("hasToken(%q, %q) = %v", tc.v, tc.tok, got)
		}
	}
}

// TestUTF8Exhaustive checks the validator against unicode/utf8 on every
// sequence of up to three bytes, and on four-byte sequences made of a lead
// byte and bytes from each class. It also checks fail-fast: a prefix is
// rejected exactly when no completion exists (every 1- and 2-byte prefix,
// and every 3-byte prefix with a four-byte lead).
func TestUTF8Exhaustive(t *testing.T) {
	var b [4]byte
	longest := 3
	if RaceEnabled || testing.Short() {
		longest = 2 // the three-byte sweep takes 1.5 s, many more under -race
	}
	for n := 1; n <= longest; n++ {
		for v := 0; v < 1<<(8*n); v++ {
			for i := range n {
				b[i] = byte(v >> (8 * i))
			}
			p := b[:n]
			st := utf8Step(utf8Accept, p)
			if (st == utf8Accept) != utf8.Valid(p) {
				t.Fatalf("% x: state %d, utf8.Valid %v", p, st, utf8.Valid(p))
			}
			if n < 3 || (b[0] >= 0xF0 && b[0] <= 0xF4) {
				if (st == utf8Reject) == completable(p) {
					t.Fatalf("% x: state %d, completable %v", p, st, completable(p))
				}
			}
		}
	}
	probe := []byte{0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xF5, 0xFF}
	for lead := 0xC0; lead <= 0xFF; lead++ {
		for _, x := range probe {
			for _, y := range probe {
				for _, z := range probe {
					p := []byte{byte(lead), x, y, z}
					if (utf8Step(utf8Accept, p) == utf8Accept) != utf8.Valid(p) {
						t.Fatalf("% x", p)
					}
				}
			}
		}
	}
}

// completable reports whether some bytes appended to p make it valid UTF-8:
// p up to some j among its last four positions is valid and the bytes after
// j begin a valid encoding (continuation bytes from each class suffice to
// find the completion).
func completable(p []byte) bool {
	for j := len(p); j >= max(0, len(p)-3); j-- {
		if runePrefix(p[j:]) && utf8.Valid(p[:j]) {
			return true
		}
	}
	return false
}

func runePrefix(tail []byte) bool {
	if len(tail) == 0 {
		return true
	}
	conts := []byte{0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF}
	var try func(q []byte, depth int) bool
	try = func(q []byte, depth int) bool {
		if utf8.Valid(q) {
			return true
		}
		if depth == 0 {
			return false
		}
		for _, c := range conts {
			if try(append(q[:len(q):len(q)], c), depth-1) {
				return true
			}
		}
		return false
	}
	return try(tail, 4-len(tail))
}

func TestUTF8Splits(t *testing.T) {
	for _, s := range []string{"", "ascii only, long enough for the 8-byte fast path", "héllo wörld", "€uro", "👋🏽 emoji",
		"\xff", "abc\xc0\xafdef", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf0\x8f\xbf\xbf", "ok\xe2\x82", "12345678\xe2\x82\xac12345678",
		"1234567\x80", "\xe0\xa0\x80\xe0\x9f\xbf", "\xef\xbf\xbf\xf4\x8f\xbf\xbf"} {
		want := utf8.ValidString(s)
		for _, chunks := range splits(len(s), 5) {
			st, pos := uint8(utf8Accept), 0
			for ci := 0; pos < len(s); ci++ {
				k := len(s) - pos
				if ci < len(chunks) {
					k = min(k, chunks[ci])
				}
				st = utf8Step(st, []byte(s[pos:pos+k]))
				pos += k
			}
			if (st == utf8Accept) != want {
				t.Errorf("%q split %v: state %d, want valid=%v", s, chunks, st, want)
			}
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	if _, err := (Config{}).withDefaults(); err == nil {
		t.Error("no handler accepted")
	}
	var h Handler = nopHandler{}
	c, err := Config{Handler: h}.withDefaults()
	if err != nil || c.MaxMessageBytes != DefaultMaxMessageBytes || c.IdleTimeout != DefaultIdleTimeout || c.Loops < 1 ||
		c.tickInterval() != DefaultCloseTimeout/4 {
		t.Fatalf("defaults: %v %+v", err, c)
	}
	for _, bad := range []Config{{Handler: h, Loops: 65}, {Handler: h, MaxMessageBytes: 100},
		{Handler: h, MaxOutboundBytes: 1000}, {Handler: h, MaxHeaderBytes: 200}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	c, _ = Config{Handler: h, HandshakeTimeout: 200 * 1e6, PingInterval: 2 * 1e3}.withDefaults()
	if got := c.tickInterval(); got != 1e6 {
		t.Errorf("tickInterval = %v, want 1ms floor", got)
	}
}

type nopHandler struct{}

func (nopHandler) Upgrade(*Conn, *Request) *Response { return nil }
func (nopHandler) HTTP(*Request) *Response           { return nil }
func (nopHandler) Open(*Conn)                        {}
func (nopHandler) Message(*Conn, []byte, bool)       {}
func (nopHandler) Close(*Conn, CloseCode)            {}
