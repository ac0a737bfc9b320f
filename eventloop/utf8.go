package eventloop

import "encoding/binary"

// Incremental UTF-8 validation.
//
// Text messages must be valid UTF-8 (RFC 6455 §8.1), and a fragmented message
// must be rejected as soon as a fragment makes it invalid, not only at the
// end. utf8.Valid cannot carry a partial code point across fragments, so this
// is a small DFA whose state survives between calls: 0 means "at a code point
// boundary", anything else "inside a code point, expecting more bytes".

// utf8 DFA states.
const (
	utf8Accept = 0  // at a boundary
	utf8Reject = 12 // invalid, sticky
)

// utf8Class maps a byte to its character class (Hoehrmann's table, derived
// here from the Unicode ranges of RFC 3629 §4).
var utf8Class = func() (t [256]uint8) {
	for b := 0; b < 256; b++ {
		switch {
		case b <= 0x7F:
			t[b] = 0
		case b <= 0x8F:
			t[b] = 1
		case b <= 0x9F:
			t[b] = 9
		case b <= 0xBF:
			t[b] = 7
		case b <= 0xC1:
			t[b] = 8
		case b <= 0xDF:
			t[b] = 2
		case b == 0xE0:
			t[b] = 10
		case b <= 0xEC:
			t[b] = 3
		case b == 0xED:
			t[b] = 4
		case b <= 0xEF:
			t[b] = 3
		case b == 0xF0:
			t[b] = 11
		case b <= 0xF3:
			t[b] = 6
		case b == 0xF4:
			t[b] = 5
		default:
			t[b] = 8
		}
	}
	return
}()

// utf8Trans is the transition table: utf8Trans[state+class] is the next state.
// States are multiples of 12 so that state+class indexes one row.
var utf8Trans = [...]uint8{
	// state 0: accept
	0, 12, 24, 36, 60, 96, 84, 12, 12, 12, 48, 72,
	// state 12: reject
	12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
	// state 24: one continuation byte expected
	12, 0, 12, 12, 12, 12, 12, 0, 12, 0, 12, 12,
	// state 36: two continuation bytes expected
	12, 24, 12, 12, 12, 12, 12, 24, 12, 24, 12, 12,
	// state 48: after E0, need A0..BF
	12, 12, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12,
	// state 60: after ED, need 80..9F (no surrogates)
	12, 24, 12, 12, 12, 12, 12, 12, 12, 24, 12, 12,
	// state 72: after F0, need 90..BF
	12, 12, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
	// state 84: after F1..F3, need 80..BF then two more
	12, 36, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
	// state 96: after F4, need 80..8F
	12, 36, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
}

// utf8Step advances the validator over p from state s and returns the new
// state. It stops early on rejection. ASCII runs take a fast path of eight
// bytes per step.
func utf8Step(s uint8, p []byte) uint8 {
	i := 0
	for i < len(p) {
		if s == utf8Accept {
			// Fast path: skip 8 ASCII bytes at a time.
			for i+8 <= len(p) {
				if binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 != 0 {
					break
				}
				i += 8
			}
			for i < len(p) && p[i] < 0x80 {
				i++
			}
			if i == len(p) {
				return s
			}
		}
		s = utf8Trans[s+utf8Class[p[i]]]
		if s == utf8Reject {
			return s
		}
		i++
	}
	return s
}

// validUTF8 reports whether p is complete, valid UTF-8.
func validUTF8(p []byte) bool { return utf8Step(utf8Accept, p) == utf8Accept }
