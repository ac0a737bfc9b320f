package chat

import "github.com/chatd/chatd/eventloop"

// Framing is how one carrier wraps one encoded message for its connections:
// a WebSocket text frame, an event of a stream. A protocol adapter encodes
// each reply and each room event once (Encode) and frames it with the
// framing of its carrier.
type Framing interface {
	// Frame returns the frame of the JSON text buf[Headroom:]. It may write
	// its header into buf's headroom: a buffer is framed by one framing
	// only, once, and not modified afterwards.
	Frame(buf []byte) []byte
}

// WebSocketText frames messages as WebSocket text frames (unmasked, the
// server's), the header written into the headroom: no copy of the JSON.
var WebSocketText Framing = wsText{}

type wsText struct{}

func (wsText) Frame(buf []byte) []byte {
	n := len(buf) - Headroom
	h := eventloop.FrameHeaderSize(n)
	start := Headroom - h
	eventloop.PutFrameHeader(buf[start:Headroom], 0x1, n)
	return buf[start:]
}
