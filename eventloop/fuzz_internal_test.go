package eventloop

// Fuzz targets: go test -fuzz FuzzDecoder (or FuzzParseRequest, FuzzUTF8)
// -fuzztime 60s ./eventloop/. Crashers land in testdata/fuzz/<Name>/ and are
// replayed by every plain go test run.

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// randomChunks cuts n bytes into random pieces (1..max bytes).
func randomChunks(n int, seed uint64, maxChunk int) []int {
	rng := rand.New(rand.NewPCG(seed, seed>>7|1))
	var c []int
	for s := 0; s < n; {
		k := 1 + rng.IntN(maxChunk)
		c = append(c, k)
		s += k
	}
	return c
}

// FuzzDecoder: arbitrary bytes in arbitrary chunkings never panic, never
// yield a message over the limit or invalid UTF-8 text, and give the same
// events whether fed at once, in random chunks or one byte at a time.
func FuzzDecoder(f *testing.F) {
	seeds := [][]byte{
		mf(ws.OpText, "hello"),
		cat(mfrag(ws.OpText, "he", false), mf(ws.OpPing, "p"), mfrag(ws.OpContinuation, "llo", true)),
		cat(mfrag(ws.OpBinary, strings.Repeat("b", 200), false), mfrag(ws.OpContinuation, "", true), mf(ws.OpClose, "\x03\xe8ok")),
		mf(ws.OpText, "\xe2\x82\xac\xf0\x9f\x91\x8b"),
		cat(mfrag(ws.OpText, "\xe2", false), mfrag(ws.OpContinuation, "\x82\xac", true)),
		{0x82, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4}, // 1 TiB declared
		{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4},
		{0x81, 0x02, 'h', 'i'}, // unmasked
		mf(ws.OpClose, "\x03"),
		mf(ws.OpClose, "\x03\xed"),
		mf(ws.OpPong, ""),
		cat(mfrag(ws.OpText, "a", false), mfrag(ws.OpContinuation, "", false), mfrag(ws.OpContinuation, "", false),
			mfrag(ws.OpContinuation, "b", true), mf(ws.OpText, "c")),
	}
	for i, s := range seeds {
		f.Add(s, uint64(i), uint16(i*100))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, lim uint16) {
		limit := 125 + int(lim)%4096
		whole := decodeChunks(t, bytes.Clone(data), nil, limit)
		consumed := 0
		for _, ev := range whole {
			switch ev.kind {
			case evMessage:
				if len(ev.payload) > limit {
					t.Fatalf("message of %d bytes over the limit %d", len(ev.payload), limit)
				}
				if !ev.binary && !utf8.ValidString(ev.payload) {
					t.Fatalf("invalid UTF-8 text delivered: %q", ev.payload)
				}
			case evPing:
				if len(ev.payload) > ws.MaxControlFramePayloadSize {
					t.Fatalf("ping of %d bytes", len(ev.payload))
				}
			case evClose:
				if ev.code != CloseNoStatus && !validPeerCloseCode(uint16(ev.code)) {
					t.Fatalf("close code %d accepted", ev.code)
				}
			case evError:
				if ev.code != CloseProtocolError && ev.code != CloseInvalidPayload && ev.code != CloseTooBig {
					t.Fatalf("error code %d", ev.code)
				}
			}
			consumed += ev.n
		}
		if consumed > len(data) {
			t.Fatalf("consumed %d of %d bytes", consumed, len(data))
		}
		for _, chunks := range [][]int{randomChunks(len(data), seed, 1+int(seed%64)), randomChunks(len(data), seed+1, 1)} {
			if got := decodeChunks(t, bytes.Clone(data), chunks, limit); !slices.Equal(got, whole) {
				t.Fatalf("chunks %v:\n got %v\nwant %v", chunks, got, whole)
			}
		}
		checkContinuationLimit(t, data, whole, limit, int(seed%4))
	})
}

// checkContinuationLimit: with at most maxConts continuation frames per
// message, the decoder gives the events of an unlimited one up to the first
// message over the count, which becomes a 1009 instead.
func checkContinuationLimit(t *testing.T, data []byte, unlimited []rec, limit, maxConts int) {
	var d decoder
	src := &fakeSource{b: bytes.Clone(data)}
	frags := 0 // fragment events of the open message: its first frame and continuations
	for i := 0; ; i++ {
		ev := d.next(src, limit, maxConts)
		if ev.kind == evNeedMore {
			if i != len(unlimited) {
				t.Fatalf("limited decoder stopped after %d events, unlimited gave %d", i, len(unlimited))
			}
			return
		}
		got := rec{ev.kind, ev.binary, string(ev.payload), ev.n, ev.code}
		// The count is checked at the frame's header: the limited decoder
		// may refuse a frame whose payload the unlimited one still waits for.
		if i >= len(unlimited) || got != unlimited[i] {
			if ev.kind != evError || ev.code != CloseTooBig || frags != maxConts+1 {
				t.Fatalf("event %d: got %v, unlimited gave %v (%d continuations so far, limit %d)",
					i, got, unlimited[i:], frags-1, maxConts)
			}
			return
		}
		switch ev.kind {
		case evFragment:
			frags++
		case evMessage:
			if frags > maxConts {
				t.Fatalf("message of %d continuation frames passed a limit of %d", frags, maxConts)
			}
			frags = 0
		case evError, evClose:
			return
		}
		src.b = src.b[ev.n:]
	}
}

// FuzzParseRequest: the head finder agrees with a plain search however the
// buffer grows; the parser never panics; an accepted upgrade satisfies every
// RFC 6455 §4.2.1 requirement; a refusal maps to 400 or 426; parsed strings
// do not alias the buffer.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		"GET /ws?a=b HTTP/1.1\r\nhost: x\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\r\nsec-websocket-version: 13\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"GARBAGE\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\n continued\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\nSec-WebSocket-Version: 13\r\n\r\n",
		"\r\n\r\n",
		"GET / HTTP/1.1\r\n\r",
		"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a, chatd.v2\r\nsec-websocket-protocol: ,b,\t,\r\n\r\n",
		// Duplicate Host or Origin (issue 24): refused, whichever case.
		"GET /ws HTTP/1.1\r\nHost: good.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nhost: evil.example\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nOrigin: https://good.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nORIGIN: https://evil.example\r\n\r\n",
	} {
		f.Add([]byte(s), uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		want := bytes.Index(data, []byte("\r\n\r\n"))
		if want >= 0 {
			want += 4
		}
		if got := findHeadEnd(data, 0); got != want {
			t.Fatalf("findHeadEnd = %d, want %d", got, want)
		}
		if got := incrementalHeadEnd(data, randomChunks(len(data), seed, 1+int(seed%32))); got != want {
			t.Fatalf("incremental findHeadEnd = %d, want %d", got, want)
		}
		checkRequest(t, data) // the engine only passes whole heads, but nothing may panic
		if want >= 0 {
			checkRequest(t, data[:want])
		}
	})
}

func checkRequest(t *testing.T, head []byte) {
	buf := bytes.Clone(head)
	r, err := parseRequest(buf)
	if err != nil {
		switch err {
		case errMalformed, errNotGET, errNoHost, errBadConnection, errBadKey, errBadVersion, errDupHeader:
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if s := statusFor(err); s != 400 && s != 426 {
			t.Fatalf("status %d for %v", s, err)
		}
		return
	}
	if !validToken(r.Method) || r.Target == "" || strings.ContainsAny(r.Target, " \t\r\n") ||
		(r.Proto != "HTTP/1.1" && r.Proto != "HTTP/1.0") || r.Path+queryPart(r.RawQuery, r.Target) != r.Target {
		t.Fatalf("bad request line accepted: %q %q %q", r.Method, r.Target, r.Proto)
	}
	if headerCount(r.Header, "Host") > 1 || headerCount(r.Header, "Origin") > 1 {
		t.Fatalf("request with a duplicate Host or Origin accepted: %q", r.Header)
	}
	for _, h := range r.Header {
		if !validToken(h.Name) || strings.ContainsAny(h.Value, "\r\n\x00") || h.Value != strings.Trim(h.Value, " \t") {
			t.Fatalf("bad header accepted: %q: %q", h.Name, h.Value)
		}
	}
	if r.Upgrade {
		k, err := base64.StdEncoding.DecodeString(r.key)
		if err != nil || len(k) != 16 || r.Method != "GET" || r.Proto != "HTTP/1.1" || r.Host == "" ||
			!hasToken(r.Get("Upgrade"), "websocket") || !hasToken(r.Get("Connection"), "upgrade") ||
			r.Get("Sec-WebSocket-Version") != "13" || len(acceptKey(r.key)) != 28 {
			t.Fatalf("upgrade accepted that fails RFC 6455 §4.2.1: %+v", r)
		}
	} else if r.key != "" {
		t.Fatalf("key set on a plain request")
	}
	for _, p := range r.Protocols() {
		if p == "" || p != strings.Trim(p, " \t") || strings.ContainsAny(p, ",\r\n\x00") || !r.offered(p) && validToken(p) {
			t.Fatalf("bad subprotocol %q from %q", p, r.Header)
		}
	}
	if resp := switchingProtocols("dGhlIHNhbXBsZSBub25jZQ==", r.Subprotocol); !bytes.HasSuffix(resp, []byte("\r\n\r\n")) ||
		bytes.Count(resp, []byte("\r\n\r\n")) != 1 {
		t.Fatalf("101 head broken: %q", resp)
	}
	before := *r
	before.Header = slices.Clone(r.Header)
	for i := range buf {
		buf[i] ^= 0xFF
	}
	if r.Method != before.Method || r.Target != before.Target || r.Host != before.Host || !slices.Equal(r.Header, before.Header) {
		t.Fatalf("request aliases the buffer")
	}
}

func queryPart(q, target string) string {
	if strings.Contains(target, "?") {
		return "?" + q
	}
	return ""
}

// FuzzUTF8: the incremental validator agrees with unicode/utf8 over any
// split, and rejects a prefix exactly when it cannot be completed.
func FuzzUTF8(f *testing.F) {
	for _, s := range []string{"", "hello", "héllo", "€", "👋", "\xff", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xc0\xaf", "12345678\xe2\x82\xac", "\xef\xbb\xbfBOM"} {
		f.Add([]byte(s), uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		st, pos := uint8(utf8Accept), 0
		for _, k := range randomChunks(len(data), seed, 1+int(seed%16)) {
			k = min(k, len(data)-pos)
			st = utf8Step(st, data[pos:pos+k])
			pos += k
			if len(data) <= 64 {
				if (st == utf8Reject) == completable(data[:pos]) {
					t.Fatalf("prefix % x: state %d", data[:pos], st)
				}
			}
		}
		if (st == utf8Accept) != utf8.Valid(data) {
			t.Fatalf("% x: state %d, utf8.Valid %v", data, st, utf8.Valid(data))
		}
		if (utf8Step(utf8Accept, data) == utf8Accept) != utf8.Valid(data) {
			t.Fatalf("% x whole", data)
		}
	})
}
