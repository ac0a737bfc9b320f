package bench

import (
	"strconv"
)

// The protocol on the hot path: server messages are scanned, not unmarshalled, and client
// messages are appended into reusable buffers. A delivery costs one pass over ~100 bytes and no
// allocation.

// serverMsg holds the fields of a server message we act on; slices alias the frame payload and
// are raw JSON string contents (escapes not decoded: nothing we compare needs them).
type serverMsg struct {
	typ         []byte
	content     []byte
	message     []byte
	memberCount int64

	// protocol v2 (see the README)
	id        []byte // our request id, echoed in its reply (we only send string ids)
	roomID    []byte
	code      []byte // error code
	epoch     []byte
	offset    int64 // -1: absent
	recovered int8  // -1: absent, 0: false, 1: true
	messages  []byte
}

// scanServerMsg walks one top-level JSON object and picks out "type", "content", "message",
// "memberCount" and the v2 fields "id", "roomId", "code", "epoch", "offset", "recovered" and
// "messages" (the raw array). Unknown fields, nested values and field order are handled; it
// reports false for anything that is not a well-formed object.
func scanServerMsg(b []byte, m *serverMsg) bool {
	*m = serverMsg{memberCount: -1, offset: -1, recovered: -1}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		ks, ke, ok := scanString(b, i)
		if !ok {
			return false
		}
		key := b[ks:ke]
		i = skipWS(b, ke+1)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return false
		}
		if b[i] == '"' {
			vs, ve, ok := scanString(b, i)
			if !ok {
				return false
			}
			switch string(key) {
			case "type":
				m.typ = b[vs:ve]
			case "content":
				m.content = b[vs:ve]
			case "message":
				m.message = b[vs:ve]
			case "id":
				m.id = b[vs:ve]
			case "roomId":
				m.roomID = b[vs:ve]
			case "code":
				m.code = b[vs:ve]
			case "epoch":
				m.epoch = b[vs:ve]
			}
			i = ve + 1
		} else {
			end, ok := skipValue(b, i)
			if !ok {
				return false
			}
			switch string(key) {
			case "memberCount":
				if n, ok := parseDecimal(b[i:end]); ok {
					m.memberCount = n
				}
			case "offset":
				if n, ok := parseDecimal(b[i:end]); ok {
					m.offset = n
				}
			case "recovered":
				switch string(b[i:end]) {
				case "true":
					m.recovered = 1
				case "false":
					m.recovered = 0
				}
			case "messages":
				m.messages = b[i:end]
			}
			i = end
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
}

// parseDecimal parses a non-negative JSON integer without allocating.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString takes b[i] == '"' and returns the bounds of the string's contents (end is the index
// of the closing quote).
func scanString(b []byte, i int) (start, end int, ok bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return i + 1, j, true
		}
	}
	return 0, 0, false
}

// skipValue skips a non-string JSON value (number, literal, object, array) starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	switch b[i] {
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				_, e, ok := scanString(b, j)
				if !ok {
					return 0, false
				}
				j = e
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' {
			j++
		}
		return j, j > i
	}
}

// Content carried by every benchmark message: "b:<sender>:<seq>:<unixNanos>:<flag>" then 'x'
// padding to the requested size. flag is 'L' on a sender's last planned message, 'x' otherwise.

const contentPrefix = "b:"

// appendContent appends the content for message seq of sender at time ns, padded to size bytes.
func appendContent(dst []byte, sender int, seq uint32, ns int64, last bool, size int) []byte {
	start := len(dst)
	dst = append(dst, contentPrefix...)
	dst = strconv.AppendInt(dst, int64(sender), 10)
	dst = append(dst, ':')
	dst = strconv.AppendUint(dst, uint64(seq), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, ns, 10)
	dst = append(dst, ':')
	if last {
		dst = append(dst, 'L')
	} else {
		dst = append(dst, 'x')
	}
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// content is a parsed benchmark content.
type content struct {
	sender int
	seq    uint32
	sentNs int64
	last   bool
}

// parseContent parses a benchmark content; false for anything else (another client's chat).
func parseContent(b []byte, c *content) bool {
	if len(b) < len(contentPrefix) || string(b[:len(contentPrefix)]) != contentPrefix {
		return false
	}
	i := len(contentPrefix)
	var ok bool
	var v uint64
	if v, i, ok = parseUintField(b, i, ':'); !ok || v > 1<<31 {
		return false
	}
	c.sender = int(v)
	if v, i, ok = parseUintField(b, i, ':'); !ok || v > 1<<32-1 {
		return false
	}
	c.seq = uint32(v)
	if v, i, ok = parseUintField(b, i, ':'); !ok || v > 1<<63-1 {
		return false
	}
	c.sentNs = int64(v)
	if i >= len(b) {
		return false
	}
	c.last = b[i] == 'L'
	return true
}

// parseUintField reads decimal digits from b[i:] up to the separator sep and returns the index
// after it.
func parseUintField(b []byte, i int, sep byte) (uint64, int, bool) {
	var v uint64
	start := i
	for i < len(b) && b[i] != sep {
		d := b[i] - '0'
		if d > 9 || i-start >= 19 {
			return 0, 0, false
		}
		v = v*10 + uint64(d)
		i++
	}
	if i == start || i >= len(b) {
		return 0, 0, false
	}
	return v, i + 1, true
}

// Client messages.

func appendJoin(dst []byte, roomID []byte, username []byte) []byte {
	dst = append(dst, `{"type":"join","roomId":"`...)
	dst = append(dst, roomID...)
	dst = append(dst, `","username":"`...)
	dst = append(dst, username...)
	return append(dst, `"}`...)
}

func appendMessage(dst []byte, contentBytes []byte) []byte {
	dst = append(dst, `{"type":"message","content":"`...)
	dst = append(dst, contentBytes...)
	return append(dst, `"}`...)
}

const leaveRoomMsg = `{"type":"leaveRoom"}`
