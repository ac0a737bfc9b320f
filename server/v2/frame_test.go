package v2

import (
	"testing"

	"github.com/chatd/chatd/server/chat"
)

// Room events reach v2 members in v2's shape: roomId, userId and name, the
// offset and epoch of a stored message; a resync names its reason.
func TestFrame(t *testing.T) {
	p := New(chat.WebSocketText)
	for _, tc := range []struct {
		ev   chat.Event
		want string
	}{
		{chat.Event{Kind: chat.EvMessage, Room: "r", Content: "hi", Name: "a", UserID: "u", Timestamp: "t", Offset: 3, Epoch: "e"},
			`{"type":"message","roomId":"r","offset":3,"epoch":"e","content":"hi","userId":"u","name":"a","timestamp":"t"}`},
		{chat.Event{Kind: chat.EvMessage, Room: "r", Content: "hi", Name: "a", UserID: "u", Timestamp: "t"},
			`{"type":"message","roomId":"r","content":"hi","userId":"u","name":"a","timestamp":"t"}`},
		{chat.Event{Kind: chat.EvJoined, Room: "r", Name: "a", UserID: "u", Count: 0},
			`{"type":"joined","roomId":"r","userId":"u","name":"a","memberCount":0}`},
		{chat.Event{Kind: chat.EvLeft, Room: "r", Name: "a", UserID: "u", Count: 3},
			`{"type":"left","roomId":"r","userId":"u","name":"a","memberCount":3}`},
		{chat.Event{Kind: chat.EvTyping, Room: "r", Name: "a", UserID: "u"},
			`{"type":"typing","roomId":"r","userId":"u","name":"a"}`},
		{chat.Event{Kind: chat.EvResync, Room: "r", Reason: "gap"}, `{"type":"resync","roomId":"r","reason":"gap"}`},
		{chat.Event{Kind: chat.EvOther, Room: "r"}, ""},
	} {
		f := p.Frame(&tc.ev)
		got := ""
		if f != nil {
			got = string(f[2:])
		}
		if got != tc.want {
			t.Errorf("kind %d: got %s want %s", tc.ev.Kind, got, tc.want)
		}
	}
}
