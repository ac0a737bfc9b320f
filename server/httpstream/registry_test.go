package httpstream

import (
	"strings"
	"testing"

	"github.com/chatd/chatd/server/chat"
)

// Session ids name their node; anything else is no session id.
func TestSessionIDs(t *testing.T) {
	seen := map[string]bool{}
	for _, node := range []string{"A", "node-x7", "chat-1.example", "ünï", strings.Repeat("n", 100)} {
		for i := 0; i < 100; i++ {
			sid := newSID(nodeKey(node))
			if seen[sid] {
				t.Fatalf("%s twice", sid)
			}
			seen[sid] = true
			if got, ok := nodeOf(sid); !ok || got != node {
				t.Fatalf("nodeOf(%q) = %q %v, want %q", sid, got, ok, node)
			}
		}
	}
	good := newSID(nodeKey("A"))
	for _, bad := range []string{"", ".", "QQ", "QQ.", ".abc", "QQ.short", "!!." + good[3:], good + "A",
		good[:len(good)-1] + "!", strings.Repeat("Q", 300) + good[2:]} {
		if n, ok := nodeOf(bad); ok {
			t.Errorf("nodeOf(%q) = %q, want no session id", bad, n)
		}
	}
}

// Frames and the session event are single SSE events.
func TestSSEFraming(t *testing.T) {
	buf := chat.Encode(&struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{"ok", "line\nbreak"})
	if got := string(SSE.Frame(buf)); got != "data: {\"type\":\"ok\",\"text\":\"line\\nbreak\"}\n\n" {
		t.Fatalf("frame %q", got)
	}
	ev := string(sessionEvent(&sessionInfo{Session: "QQ.x", Node: "A", Heartbeat: 30000, ResumeWindow: 10000}))
	if ev != "event: session\ndata: {\"session\":\"QQ.x\",\"node\":\"A\",\"heartbeat\":30000,\"resumeWindow\":10000}\n\n" {
		t.Fatalf("session event %q", ev)
	}
}
