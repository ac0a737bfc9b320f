package sink

import (
	"encoding/json"
	"testing"
)

// Whatever a stored payload holds, a batch is valid JSON; a payload that
// is a JSON object keeps its members but the header ones.
func FuzzEncodeBatch(f *testing.F) {
	f.Add(storedPayload, "general")
	f.Add(`{"a":1,"origin":"x","b":[1,{"epoch":2}]}`, "r{}\"")
	f.Add(`not json`, "")
	f.Add(`{"a":`, "\x00")
	f.Fuzz(func(t *testing.T, payload, room string) {
		body, n := encodeBatch("n\"1", []Entry{{Room: room, Epoch: "e", Offset: 1, At: 1, Payload: payload}}, 10, 1<<20)
		var b struct {
			Messages []struct {
				RoomID  string                     `json:"roomId"`
				Message map[string]json.RawMessage `json:"message"`
			} `json:"messages"`
		}
		if n != 1 || json.Unmarshal(body, &b) != nil || len(b.Messages) != 1 {
			t.Fatalf("batch %q (n=%d) is not one valid message", body, n)
		}
		var in map[string]json.RawMessage
		if json.Unmarshal([]byte(payload), &in) != nil || b.Messages[0].Message == nil {
			return
		}
		for k := range in {
			_, kept := b.Messages[0].Message[k]
			if kept == headerMembers[k] {
				t.Fatalf("member %q: kept %v in %s", k, kept, body)
			}
		}
	})
}
