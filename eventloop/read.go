package eventloop

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// Incremental frame decoding (RFC 6455 §5).
//
// The decoder never reads from a socket: it looks at what the event loop has
// already buffered for the connection. It peeks the header first (at most 14
// bytes), checks it, and only when the whole declared payload is buffered does
// it peek the frame, so a peer trickling a frame byte by byte costs a 14-byte
// peek per read, and a frame declared larger than the message limit is refused
// before a single payload byte is waited for.

// source is the buffered inbound data of one connection. gnet.Conn satisfies
// it; tests use a plain byte slice.
type source interface {
	Peek(n int) ([]byte, error)
	InboundBuffered() int
}

// eventKind says what the decoder found at the head of the buffer.
type eventKind uint8

const (
	evNeedMore eventKind = iota // no complete frame yet; nothing to discard
	evFragment                  // a non-final data frame was absorbed; discard and go on
	evMessage                   // a complete message (payload valid until discard)
	evPing                      // a ping; answer with a pong carrying payload
	evPong                      // a pong
	evClose                     // a valid close frame; code is the peer's code
	evError                     // a protocol violation; close with code
)

// event is one decoding result. After handling it the caller discards n bytes.
type event struct {
	kind    eventKind
	binary  bool      // evMessage: opcode was binary
	payload []byte    // evMessage, evPing, evClose: unmasked payload
	n       int       // bytes of the inbound buffer this event consumed
	code    CloseCode // evClose: the peer's code; evError: the code to close with
	reason  string    // evError: a short static explanation
}

// decoder is the per-connection framing state. It is embedded in Conn; while
// no fragmented message is open it holds no buffer.
type decoder struct {
	fragOp ws.OpCode // opcode of the open fragmented message, 0 when none is open
	utf8   uint8     // UTF-8 validator state of the open text message
	conts  uint32    // continuation frames of the open message so far (in what was padding: still 16 bytes)
	frag   *[]byte   // payload of the open fragmented message (nil when none: 8 bytes per idle connection, not 24)
}

// Protocol violations, with the code they close with.
var (
	errMaskRequired  = event{kind: evError, code: CloseProtocolError, reason: "frame not masked"}
	errRSV           = event{kind: evError, code: CloseProtocolError, reason: "reserved bits set"}
	errOpcode        = event{kind: evError, code: CloseProtocolError, reason: "reserved opcode"}
	errControlLength = event{kind: evError, code: CloseProtocolError, reason: "control frame too long"}
	errControlFrag   = event{kind: evError, code: CloseProtocolError, reason: "fragmented control frame"}
	errContExpected  = event{kind: evError, code: CloseProtocolError, reason: "data frame inside a fragmented message"}
	errContUnexpect  = event{kind: evError, code: CloseProtocolError, reason: "continuation without a message"}
	errLengthMSB     = event{kind: evError, code: CloseProtocolError, reason: "invalid payload length"}
	errCloseLength   = event{kind: evError, code: CloseProtocolError, reason: "close payload of one byte"}
	errCloseCode     = event{kind: evError, code: CloseProtocolError, reason: "invalid close code"}
	errCloseUTF8     = event{kind: evError, code: CloseInvalidPayload, reason: "close reason not UTF-8"}
	errTextUTF8      = event{kind: evError, code: CloseInvalidPayload, reason: "text not UTF-8"}
	errTooBig        = event{kind: evError, code: CloseTooBig, reason: "message too big"}
	errTooManyFrames = event{kind: evError, code: CloseTooBig, reason: "message in too many frames"}
)

// parseHeader decodes a frame header from the start of b. ok is false when b
// is too short to hold the whole header; size is the header's length.
func parseHeader(b []byte) (h ws.Header, size int, ok bool) {
	if len(b) < 2 {
		return h, 0, false
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] >> 4) & 0x07
	h.OpCode = ws.OpCode(b[0] & 0x0F)
	h.Masked = b[1]&0x80 != 0
	size = 2
	l7 := b[1] & 0x7F
	switch l7 {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if h.Masked {
		size += 4
	}
	if len(b) < size {
		return h, size, false
	}
	switch l7 {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		v := binary.BigEndian.Uint64(b[2:10])
		if v>>63 != 0 {
			h.Length = -1 // the most significant bit must be 0; reported by the caller
		} else {
			h.Length = int64(v)
		}
	default:
		h.Length = int64(l7)
	}
	if h.Masked {
		copy(h.Mask[:], b[size-4:size])
	}
	return h, size, true
}

// checkHeader maps gobwas' header check to our close codes.
func (d *decoder) checkHeader(h ws.Header) *event {
	state := ws.StateServerSide
	if d.fragOp != 0 {
		state = state.Set(ws.StateFragmented)
	}
	switch ws.CheckHeader(h, state) {
	case nil:
		return nil
	case ws.ErrProtocolOpCodeReserved:
		return &errOpcode
	case ws.ErrProtocolControlPayloadOverflow:
		return &errControlLength
	case ws.ErrProtocolControlNotFinal:
		return &errControlFrag
	case ws.ErrProtocolNonZeroRsv:
		return &errRSV
	case ws.ErrProtocolMaskRequired:
		return &errMaskRequired
	case ws.ErrProtocolContinuationExpected:
		return &errContExpected
	case ws.ErrProtocolContinuationUnexpected:
		return &errContUnexpect
	}
	return &errOpcode
}

// next decodes the frame at the head of src. limit is the largest message
// (after reassembly) the connection accepts; maxConts the most continuation
// frames one message may have (negative: any number). A message's bytes are
// bounded by limit, but empty continuation frames cost the server a frame's
// work each and add nothing: without a count, a million of them make one
// message (issue 15). Over it the message is "too big" in frames: 1009.
func (d *decoder) next(src source, limit, maxConts int) event {
	buffered := src.InboundBuffered()
	if buffered < 2 {
		return event{}
	}
	hb, _ := src.Peek(min(buffered, ws.MaxHeaderSize))
	h, hsize, ok := parseHeader(hb)
	if !ok {
		return event{}
	}
	if e := d.checkHeader(h); e != nil {
		return *e
	}
	if h.Length < 0 {
		return errLengthMSB
	}
	if !h.OpCode.IsControl() && h.Length > int64(limit-d.fragLen()) {
		return errTooBig
	}
	if h.OpCode == ws.OpContinuation && maxConts >= 0 && int64(d.conts) >= int64(maxConts) {
		return errTooManyFrames
	}
	total := hsize + int(h.Length)
	if buffered < total {
		return event{}
	}
	fb, _ := src.Peek(total)
	p := fb[hsize:total]
	ws.Cipher(p, h.Mask, 0)

	switch h.OpCode {
	case ws.OpPing:
		return event{kind: evPing, payload: p, n: total}
	case ws.OpPong:
		return event{kind: evPong, n: total}
	case ws.OpClose:
		return closeEvent(p, total)
	}

	// Data frame: text, binary, or a continuation of either.
	op := h.OpCode
	if op == ws.OpContinuation {
		op = d.fragOp
	}
	if op == ws.OpText {
		st := d.utf8
		if h.OpCode != ws.OpContinuation {
			st = utf8Accept
		}
		st = utf8Step(st, p)
		if st == utf8Reject || (h.Fin && st != utf8Accept) {
			return errTextUTF8
		}
		d.utf8 = st
	}
	if h.Fin && h.OpCode != ws.OpContinuation {
		// The common case: a whole message in one frame, no copy.
		return event{kind: evMessage, binary: op == ws.OpBinary, payload: p, n: total}
	}
	if d.frag == nil {
		d.frag = new([]byte)
	}
	*d.frag = append(*d.frag, p...)
	if h.OpCode == ws.OpContinuation {
		d.conts++
	}
	if !h.Fin {
		d.fragOp = op
		return event{kind: evFragment, n: total}
	}
	msg := *d.frag
	d.fragOp, d.utf8, d.conts, d.frag = 0, utf8Accept, 0, nil
	return event{kind: evMessage, binary: op == ws.OpBinary, payload: msg, n: total}
}

// fragLen is the size of the open fragmented message so far.
func (d *decoder) fragLen() int {
	if d.frag == nil {
		return 0
	}
	return len(*d.frag)
}

// closeEvent validates a close frame's payload (RFC 6455 §5.5.1, §7.4).
func closeEvent(p []byte, n int) event {
	switch {
	case len(p) == 0:
		return event{kind: evClose, code: CloseNoStatus, n: n}
	case len(p) == 1:
		return errCloseLength
	}
	code := binary.BigEndian.Uint16(p)
	if !validPeerCloseCode(code) {
		return errCloseCode
	}
	if !validUTF8(p[2:]) {
		return errCloseUTF8
	}
	return event{kind: evClose, code: CloseCode(code), payload: p, n: n}
}
