package v1

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/chatd/chatd/server/chat"
)

// FuzzParseRequest checks the protocol decoder against encoding/json on any
// input: it never panics, refuses exactly the inputs that are not JSON, and
// what it accepts agrees field by field with the standard decoder.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","roomId":"general","username":"alice","roomName":"General Discussion"}`,
		`{"type":"message","content":"Hello everyone! 👋"}`,
		`{"type":"leaveRoom"}`, `{"type":"getRoomList"}`, `{"type":5}`, `[]`, `"x"`, `5`, `null`,
		`not json`, `{"type":"message","content":"\u0000\ud83d\ude00"}`, `{"type":"join","roomId":1}`,
		`{"type":"message","content":"a","content":"b"}`, " \t\n{}", `{"type":"x"`, "{\"type\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var r Request
		e := parseRequest(p, &r)
		valid := utf8.Valid(p) && json.Valid(p)
		if !valid {
			if e != chat.ErrInvalidJSON {
				t.Fatalf("%q: invalid JSON gave %v", p, e)
			}
			return
		}
		if e == chat.ErrInvalidJSON {
			t.Fatalf("%q: valid JSON refused as invalid", p)
		}
		var std map[string]any
		isObject := json.Unmarshal(p, &std) == nil && std != nil
		if !isObject {
			if e != chat.ErrNotObject {
				t.Fatalf("%q: non-object gave %v", p, e)
			}
			return
		}
		if e != nil {
			if e == chat.ErrNotObject {
				t.Fatalf("%q: object refused as non-object", p)
			}
			return
		}
		for k, got := range map[string]string{"type": r.Type, "roomId": r.RoomID, "username": r.Username,
			"roomName": r.RoomName, "content": r.Content} {
			want, _ := std[k].(string)
			if got != want {
				t.Fatalf("%q: field %s = %q, encoding/json says %q", p, k, got, want)
			}
		}
	})
}
