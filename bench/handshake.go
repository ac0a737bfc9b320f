package bench

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
)

// The client side of the HTTP/1.1 upgrade (RFC 6455 §4.1), written for a non-blocking socket: the
// request is built into a buffer, and the response is parsed from whatever has arrived so far.

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// maxHandshakeResponse bounds the server's response headers.
const maxHandshakeResponse = 8 << 10

// appendHandshakeRequest appends the upgrade request for target t with the base64 key; a
// non-empty proto is offered as the one subprotocol (chatd.v2 selects protocol v2).
func appendHandshakeRequest(dst []byte, t *target, key []byte, proto string) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, t.path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, t.host...)
	dst = append(dst, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	dst = append(dst, key...)
	if proto != "" {
		dst = append(dst, "\r\nSec-WebSocket-Protocol: "...)
		dst = append(dst, proto...)
	}
	dst = append(dst, "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: chatbench\r\n\r\n"...)
	return dst
}

// newHandshakeKey encodes 16 random bytes from r as the Sec-WebSocket-Key.
func newHandshakeKey(r *rng) []byte {
	var raw [16]byte
	for i := 0; i < 16; i += 8 {
		v := r.next()
		for j := 0; j < 8; j++ {
			raw[i+j] = byte(v >> (8 * j))
		}
	}
	key := make([]byte, base64.StdEncoding.EncodedLen(16))
	base64.StdEncoding.Encode(key, raw[:])
	return key
}

// acceptFor computes the Sec-WebSocket-Accept value the server must answer for key.
func acceptFor(key []byte) []byte {
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(wsGUID))
	sum := h.Sum(nil)
	out := make([]byte, base64.StdEncoding.EncodedLen(len(sum)))
	base64.StdEncoding.Encode(out, sum)
	return out
}

var errHandshakeTooLong = errors.New("handshake: response headers exceed 8 KiB")

// parseHandshakeResponse checks the server's upgrade response at the front of b. It returns the
// bytes the response used (frames may follow in the same read), or n == 0 with no error while the
// headers are incomplete. A non-empty wantProto must be the subprotocol the server selected: a
// server that answers without it speaks the other protocol, and every message would be refused.
func parseHandshakeResponse(b []byte, wantAccept []byte, wantProto string) (n int, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > maxHandshakeResponse {
			return 0, errHandshakeTooLong
		}
		return 0, nil
	}
	head := b[:end]
	n = end + 4
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	// Status line: HTTP/1.1 101 Switching Protocols
	parts := bytes.SplitN(line, []byte(" "), 3)
	if len(parts) < 2 || !bytes.HasPrefix(parts[0], []byte("HTTP/1.")) {
		return 0, fmt.Errorf("handshake: malformed status line %q", line)
	}
	if string(parts[1]) != "101" {
		return 0, fmt.Errorf("handshake: status %q, want 101", line)
	}
	var upgrade, connection, accept bool
	var proto []byte
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("handshake: malformed header %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = bytes.EqualFold(value, []byte("websocket"))
		case bytes.EqualFold(name, []byte("Connection")):
			for _, tok := range bytes.Split(value, []byte(",")) {
				if bytes.EqualFold(bytes.TrimSpace(tok), []byte("upgrade")) {
					connection = true
				}
			}
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Protocol")):
			proto = value
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")):
			accept = bytes.Equal(value, wantAccept)
			if !accept {
				return 0, fmt.Errorf("handshake: Sec-WebSocket-Accept %q, want %q", value, wantAccept)
			}
		}
	}
	switch {
	case !upgrade:
		return 0, errors.New("handshake: missing Upgrade: websocket")
	case !connection:
		return 0, errors.New("handshake: missing Connection: Upgrade")
	case !accept:
		return 0, errors.New("handshake: missing Sec-WebSocket-Accept")
	case wantProto != "" && string(proto) != wantProto:
		return 0, fmt.Errorf("handshake: server selected subprotocol %q, want %q (no protocol v2?)", proto, wantProto)
	}
	return n, nil
}
