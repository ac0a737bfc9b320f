package eventloop

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// Frame encoding for server frames (never masked, RFC 6455 §5.1).

// MaxFrameHeader is the largest header a server frame needs.
const MaxFrameHeader = 10

// AppendFrame appends one complete, final, unmasked frame with opcode op and
// payload p to dst and returns the extended slice. Encode a message once and
// hand the same bytes to every recipient.
func AppendFrame(dst []byte, op ws.OpCode, p []byte) []byte {
	dst = appendHeader(dst, op, len(p))
	return append(dst, p...)
}

// TextFrame returns a new text frame carrying p.
func TextFrame(p []byte) []byte {
	return AppendFrame(make([]byte, 0, MaxFrameHeader+len(p)), ws.OpText, p)
}

// FrameHeaderSize returns the header size of a server frame whose payload is n
// bytes, so a caller can reserve room and encode the payload in place.
func FrameHeaderSize(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xFFFF:
		return 4
	}
	return 10
}

// PutFrameHeader writes the header of a final, unmasked frame with payload
// length n into b, which must be exactly FrameHeaderSize(n) bytes.
func PutFrameHeader(b []byte, op ws.OpCode, n int) {
	b[0] = 0x80 | byte(op)
	switch {
	case n <= 125:
		b[1] = byte(n)
	case n <= 0xFFFF:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:4], uint16(n))
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:10], uint64(n))
	}
}

func appendHeader(dst []byte, op ws.OpCode, n int) []byte {
	var h [MaxFrameHeader]byte
	k := FrameHeaderSize(n)
	PutFrameHeader(h[:k], op, n)
	return append(dst, h[:k]...)
}
