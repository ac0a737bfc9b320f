package v2

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/chatd/chatd/server/chat"
)

// FuzzParseRequest checks the v2 request decoder on any input: it never
// panics, refuses exactly the inputs that are not JSON, keeps an id only if
// it is a string or a number of at most 64 bytes, and what it accepts agrees
// with encoding/json on the string fields.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","name":"alice","id":1}`, `{"type":"join","roomId":"r","history":10,"id":"a"}`,
		`{"type":"join","roomId":"r","since":{"epoch":"e","offset":5},"id":2}`,
		`{"type":"publish","roomId":"r","content":"hi 👋"}`, `{"type":"rooms","after":"x","limit":5,"prefix":"p"}`,
		`{"type":"typing","roomId":"r"}`, `{"type":"join","id":{"x":1}}`, `{"type":"join","id":null}`,
		`{"type":"join","roomId":5,"id":7}`, `{"type":"join","since":"x","id":7}`, `{"type":"join","history":-1}`,
		`{"type":"join","history":1e99}`, `[]`, `not json`, `{"id":` + `"` + "\xff" + `"}`, `{"type":"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var r Request
		e := parseRequest(p, &r)
		if len(r.ID) > 0 {
			if len(r.ID) > maxIDBytes || !json.Valid(r.ID) {
				t.Fatalf("%q: kept id %q", p, r.ID)
			}
			var v any
			_ = json.Unmarshal(r.ID, &v)
			switch v.(type) {
			case string, float64:
			default:
				t.Fatalf("%q: kept an id of type %T", p, v)
			}
		}
		valid := utf8.Valid(p) && json.Valid(p)
		if !valid {
			if e != chat.ErrInvalidJSON {
				t.Fatalf("%q: invalid JSON gave %v", p, e)
			}
			return
		}
		if e == chat.ErrInvalidJSON {
			// Valid JSON is refused as invalid only when a number does not
			// fit (encoding/json reads 1e999 as an error too).
			var std map[string]any
			if json.Unmarshal(p, &std) == nil {
				t.Fatalf("%q: valid JSON refused as invalid", p)
			}
			return
		}
		if e != nil {
			return
		}
		var std map[string]any
		if err := json.Unmarshal(p, &std); err != nil || std == nil {
			t.Fatalf("%q: accepted, but encoding/json says %v", p, err)
		}
		for k, got := range map[string]string{"type": r.Type, "name": r.Name, "roomId": r.RoomID,
			"roomName": r.RoomName, "content": r.Content, "after": r.After, "prefix": r.Prefix} {
			want, _ := std[k].(string)
			if got != want {
				t.Fatalf("%q: field %s = %q, encoding/json says %q", p, k, got, want)
			}
		}
	})
}
