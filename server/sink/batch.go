package sink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The POST body (README "Hooks and sink"):
//
//	{"node":"n1","messages":[{"roomId":"general","epoch":"nb3pgq1","offset":1,
//	  "storedAt":"2026-12-06T14:50:14.060Z","message":{"type":"message","content":"hi",
//	  "username":"alice","userId":"u-1","timestamp":"2026-12-06T14:50:14.056Z"}}]}
//
// message is the stored history entry as clients get it: the event's JSON
// object without the broker's header members.

// headerMembers are the members a broker adds to a stored event
// (server/broker's Header constants): not part of the message.
var headerMembers = map[string]bool{"excludeUserId": true, "origin": true, "originConn": true,
	"offset": true, "epoch": true}

// encodeBatch encodes the longest prefix of es that holds at most maxCount
// messages and maxBytes bytes of them (at least one message, however big),
// and returns the body and how many messages it holds. An entry whose
// payload is not a JSON object is sent with message null (it cannot be
// de-duplicated away by chatd: the backend sees it).
func encodeBatch(node string, es []Entry, maxCount, maxBytes int) ([]byte, int) {
	var buf bytes.Buffer
	buf.WriteString(`{"node":`)
	writeString(&buf, node)
	buf.WriteString(`,"messages":[`)
	n, start := 0, buf.Len()
	for _, e := range es {
		if n == maxCount {
			break
		}
		mark := buf.Len()
		if n > 0 {
			buf.WriteByte(',')
		}
		appendEntry(&buf, &e)
		if n > 0 && buf.Len()-start > maxBytes {
			buf.Truncate(mark)
			break
		}
		n++
	}
	buf.WriteString("]}")
	return buf.Bytes(), n
}

// appendEntry encodes one message of a batch.
func appendEntry(buf *bytes.Buffer, e *Entry) {
	buf.WriteString(`{"roomId":`)
	writeString(buf, e.Room)
	buf.WriteString(`,"epoch":`)
	writeString(buf, e.Epoch)
	buf.WriteString(`,"offset":`)
	buf.WriteString(strconv.FormatUint(e.Offset, 10))
	buf.WriteString(`,"storedAt":"`)
	buf.WriteString(time.UnixMilli(e.At).UTC().Format("2006-01-02T15:04:05.000Z"))
	buf.WriteString(`","message":`)
	msg, err := stripHeader(e.Payload)
	if err != nil {
		buf.WriteString("null")
	} else {
		buf.Write(msg)
	}
	buf.WriteByte('}')
}

func writeString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	buf.Write(b)
}

// stripHeader returns the JSON object payload without the header members,
// its other members as they are, in their order.
func stripHeader(payload string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(payload)))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("payload is not a JSON object")
	}
	out := make([]byte, 0, len(payload))
	out = append(out, '{')
	first := true
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("payload member %q: %w", key, err)
		}
		if headerMembers[key] {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		k, _ := json.Marshal(key)
		out = append(out, k...)
		out = append(out, ':')
		out = append(out, v...)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return append(out, '}'), nil
}
