package bench

import (
	"strconv"
)

// Protocol v2 requests (see the README), appended into reusable buffers like the v1 ones, and the ids
// that tie a reply to its request. A request id carries everything its reply needs, so a
// connection remembers nothing per request in flight:
//
//	"h"            hello
//	"j<slot>"      join of the member's room at that slot (also the re-join with since)
//	"l<slot>"      leave before a re-join (answering a resync)
//	"p<seq>:<ns>"  publish of the member's message seq, written at ns (the ok's latency)

const subprotocolV2 = "chatd.v2"

func appendHello(dst []byte, name []byte) []byte {
	dst = append(dst, `{"type":"hello","id":"h","name":"`...)
	dst = append(dst, name...)
	return append(dst, `"}`...)
}

// since is where a re-join resumes a room's history: an epoch (raw JSON string contents, as the
// server sent it) and the last offset seen.
type since struct {
	epoch  string
	offset uint64
}

// appendJoinV2 joins roomID for slot. history >= 0 adds "history" (messages wanted on a first
// join); a non-nil from adds "since".
func appendJoinV2(dst []byte, slot int, roomID []byte, history int, from *since) []byte {
	dst = append(dst, `{"type":"join","id":"j`...)
	dst = strconv.AppendInt(dst, int64(slot), 10)
	dst = append(dst, `","roomId":"`...)
	dst = append(dst, roomID...)
	dst = append(dst, '"')
	if history >= 0 {
		dst = append(dst, `,"history":`...)
		dst = strconv.AppendInt(dst, int64(history), 10)
	}
	if from != nil {
		dst = append(dst, `,"since":{"epoch":"`...)
		dst = append(dst, from.epoch...)
		dst = append(dst, `","offset":`...)
		dst = strconv.AppendUint(dst, from.offset, 10)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendLeaveV2 leaves roomID; slot < 0 sends no id (no reply wanted).
func appendLeaveV2(dst []byte, slot int, roomID []byte) []byte {
	dst = append(dst, `{"type":"leave",`...)
	if slot >= 0 {
		dst = append(dst, `"id":"l`...)
		dst = strconv.AppendInt(dst, int64(slot), 10)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"roomId":"`...)
	dst = append(dst, roomID...)
	return append(dst, `"}`...)
}

// appendPublish publishes message seq of sender, written at ns, to roomID.
func appendPublish(dst []byte, roomID []byte, sender int, seq uint32, ns int64, last bool, size int) []byte {
	dst = append(dst, `{"type":"publish","id":"p`...)
	dst = strconv.AppendUint(dst, uint64(seq), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, ns, 10)
	dst = append(dst, `","roomId":"`...)
	dst = append(dst, roomID...)
	dst = append(dst, `","content":"`...)
	dst = appendContent(dst, sender, seq, ns, last, size)
	return append(dst, `"}`...)
}

// replyID is a parsed request id.
type replyID struct {
	kind byte   // 'h', 'j', 'l', 'p'; 0: not one of ours
	n    uint32 // slot (j, l) or message seq (p)
	ns   int64  // p: when the publish was written
}

// parseReplyID parses the id of a reply; kind 0 for anything we never sent.
func parseReplyID(b []byte) replyID {
	if len(b) == 0 {
		return replyID{}
	}
	switch b[0] {
	case 'h':
		if len(b) == 1 {
			return replyID{kind: 'h'}
		}
	case 'j', 'l':
		if n, ok := parseDecimal(b[1:]); ok && n <= 1<<16 {
			return replyID{kind: b[0], n: uint32(n)}
		}
	case 'p':
		seq, i, ok := scanUint(b, 1)
		if !ok || i >= len(b) || b[i] != ':' || seq > 1<<32-1 {
			return replyID{}
		}
		ns, j, ok := scanUint(b, i+1)
		if !ok || j != len(b) || ns > 1<<63-1 {
			return replyID{}
		}
		return replyID{kind: 'p', n: uint32(seq), ns: int64(ns)}
	}
	return replyID{}
}

// scanUint reads the decimal digits at b[i:] (1 to 19 of them) and returns the index after them.
func scanUint(b []byte, i int) (uint64, int, bool) {
	var v uint64
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if i-start >= 19 {
			return 0, 0, false
		}
		v = v*10 + uint64(b[i]-'0')
		i++
	}
	return v, i, i > start
}

// nextElem walks a JSON array (the raw "messages" of a join result): from index i (0 to start at
// the '['), it returns the next element's bounds and the index to continue from; ok is false at
// the end of the array or on malformed input.
func nextElem(arr []byte, i int) (start, end, next int, ok bool) {
	if i == 0 {
		i = skipWS(arr, 0)
		if i >= len(arr) || arr[i] != '[' {
			return 0, 0, 0, false
		}
		i++
	}
	i = skipWS(arr, i)
	if i >= len(arr) || arr[i] == ']' {
		return 0, 0, 0, false
	}
	if arr[i] == ',' {
		i = skipWS(arr, i+1)
	}
	if i >= len(arr) {
		return 0, 0, 0, false
	}
	var e int
	if arr[i] == '"' {
		_, se, sok := scanString(arr, i)
		if !sok {
			return 0, 0, 0, false
		}
		e = se + 1
	} else {
		var vok bool
		if e, vok = skipValue(arr, i); !vok {
			return 0, 0, 0, false
		}
	}
	return i, e, e, true
}
