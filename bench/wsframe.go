package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// RFC 6455 framing, client side. We write masked frames (a client must mask, and a server must
// close a connection that does not) and parse the server's unmasked frames straight out of a read
// buffer, incrementally: a frame split across reads is reported as "need more", many frames in one
// read are walked one by one, and nothing here blocks or allocates.

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxServerFrame bounds what we accept from a server in one frame: the protocol's messages are
// small, so anything near this is a broken stream, not a message.
const maxServerFrame = 16 << 20

var errMaskedServerFrame = errors.New("websocket: server frame is masked")

// frame is one parsed server frame; payload aliases the read buffer.
type frame struct {
	fin     bool
	op      byte
	payload []byte
}

// parseFrame reads one frame from the front of b. It returns the frame and the bytes it used, or
// n == 0 with no error when b does not yet hold a whole frame.
func parseFrame(b []byte) (f frame, n int, err error) {
	if len(b) < 2 {
		return f, 0, nil
	}
	b0, b1 := b[0], b[1]
	if b0&0x70 != 0 {
		return f, 0, fmt.Errorf("websocket: reserved bits set in frame header 0x%02x", b0)
	}
	if b1&0x80 != 0 {
		return f, 0, errMaskedServerFrame
	}
	f.fin = b0&0x80 != 0
	f.op = b0 & 0x0F
	hdr := 2
	length := uint64(b1 & 0x7F)
	switch length {
	case 126:
		if len(b) < 4 {
			return f, 0, nil
		}
		length = uint64(binary.BigEndian.Uint16(b[2:4]))
		hdr = 4
	case 127:
		if len(b) < 10 {
			return f, 0, nil
		}
		length = binary.BigEndian.Uint64(b[2:10])
		hdr = 10
	}
	if f.op >= opClose {
		if length > 125 || !f.fin {
			return f, 0, fmt.Errorf("websocket: bad control frame (op %d, length %d, fin %v)", f.op, length, f.fin)
		}
	}
	// Check the declared length before waiting for the payload: a bogus header must fail now,
	// not after we have buffered gigabytes.
	if length > maxServerFrame {
		return f, 0, fmt.Errorf("websocket: frame of %d bytes exceeds the %d byte limit", length, maxServerFrame)
	}
	total := hdr + int(length)
	if len(b) < total {
		return f, 0, nil
	}
	f.payload = b[hdr:total]
	return f, total, nil
}

// frameHeaderLen is the size of a masked client frame header for a payload of n bytes.
func frameHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2 + 4
	case n <= 0xFFFF:
		return 4 + 4
	default:
		return 10 + 4
	}
}

// appendFrame appends one final, masked client frame carrying payload, masked with key.
func appendFrame(dst []byte, op byte, payload []byte, key uint32) []byte {
	n := len(payload)
	switch {
	case n <= 125:
		dst = append(dst, 0x80|op, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|op, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|op, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], key)
	dst = append(dst, k[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	maskBytes(dst[start:], k)
	return dst
}

// maskBytes XORs b with the repeating 4-byte key, eight bytes at a time where it can. Masking is
// its own inverse, so this also unmasks.
func maskBytes(b []byte, k [4]byte) {
	k32 := binary.LittleEndian.Uint32(k[:])
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k64)
	}
	for ; i < len(b); i++ {
		b[i] ^= k[i&3]
	}
}

// closeCode reads the status code from a close frame's payload (1005: none given).
func closeCode(payload []byte) int {
	if len(payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(payload[:2]))
}
