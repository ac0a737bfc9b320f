package sink

import (
	"encoding/json"
	"strings"
	"testing"
)

func entry(room string, off uint64, payload string) Entry {
	return Entry{ID: "x", Room: room, Epoch: "ep1", Offset: off, At: 1765032614060, Payload: payload}
}

const storedPayload = `{"type":"message","content":"hi \"bob\"","username":"alice","userId":"u1","timestamp":"2026-12-06T14:50:14.056Z","excludeUserId":"u1","origin":"n1","originConn":608991,"offset":7,"epoch":"ep1"}`

// The exact body of a batch: the node, and each message with its place and
// the stored entry without the broker's header members, in its order.
func TestEncodeBatchExactJSON(t *testing.T) {
	body, n := encodeBatch("n1", []Entry{entry("general", 7, storedPayload)}, 10, 1<<20)
	want := `{"node":"n1","messages":[{"roomId":"general","epoch":"ep1","offset":7,"storedAt":"2025-12-06T14:50:14.060Z",` +
		`"message":{"type":"message","content":"hi \"bob\"","username":"alice","userId":"u1","timestamp":"2026-12-06T14:50:14.056Z"}}]}`
	if n != 1 || string(body) != want {
		t.Fatalf("n=%d body\n%s\nwant\n%s", n, body, want)
	}
	// A payload that is not an object still goes out (message null): the
	// backend sees its place.
	body, n = encodeBatch("n1", []Entry{entry("r", 1, `[1]`)}, 10, 1<<20)
	if n != 1 || !strings.Contains(string(body), `"message":null`) {
		t.Fatalf("n=%d body %s", n, body)
	}
}

// A batch stops at the message bound and at the byte bound, but always
// holds one message however big.
func TestEncodeBatchSizing(t *testing.T) {
	var es []Entry
	for i := range 10 {
		es = append(es, entry("r", uint64(i+1), storedPayload))
	}
	if _, n := encodeBatch("n", es, 4, 1<<20); n != 4 {
		t.Fatalf("count bound: %d messages, want 4", n)
	}
	one, _ := encodeBatch("n", es[:1], 1, 1<<20)
	per := len(one) - len(`{"node":"n","messages":[]}`)
	body, n := encodeBatch("n", es, 100, 3*per+2) // three entries and their two commas
	if n != 3 {
		t.Fatalf("byte bound: %d messages, want 3 (body %d bytes, one message %d)", n, len(body), per)
	}
	var v struct{ Messages []json.RawMessage }
	if err := json.Unmarshal(body, &v); err != nil || len(v.Messages) != 3 {
		t.Fatalf("body is not a batch of 3: %v %s", err, body)
	}
	if _, n := encodeBatch("n", es, 100, 10); n != 1 {
		t.Fatalf("a message over the byte bound goes alone: %d, want 1", n)
	}
}
