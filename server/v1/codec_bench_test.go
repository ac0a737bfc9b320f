package v1

import (
	"testing"
	"time"

	"github.com/chatd/chatd/server/chat"
)

// The per-message work of a chat message on the sending node: decode the
// request, encode the one frame that serves the echo, the cluster body and
// every local delivery. Run with -benchmem: the allocations here are all a
// message costs (the fan-out adds none per member; see eventloop's
// BenchmarkFanoutLoop).
func BenchmarkDecodeMessage(b *testing.B) {
	p := []byte(`{"type":"message","content":"Hello everyone! 👋 this is a typical chat line"}`)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		var r Request
		if e := parseRequest(p, &r); e != nil {
			b.Fatal(e)
		}
	}
}

func BenchmarkEncodeChatFrame(b *testing.B) {
	ts := chat.JSTime(time.Now())
	p := New(chat.WebSocketText)
	b.ReportAllocs()
	for b.Loop() {
		ev := &chat.Event{Kind: chat.EvMessage, Room: "general", Content: "Hello everyone! 👋 this is a typical chat line",
			Name: "alice", UserID: "ypk0gg3ew5", Timestamp: ts}
		if f := p.Frame(ev); len(f) == 0 {
			b.Fatal("empty frame")
		}
	}
}

func BenchmarkTimestamp(b *testing.B) {
	b.ReportAllocs()
	now := time.Now()
	for b.Loop() {
		_ = chat.JSTime(now)
	}
}
