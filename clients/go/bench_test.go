package chatdclient

import (
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkMessagePush is the client's hot path: one message push read from
// the socket, decoded, checked against the room's offsets and handed to the
// application (its event received from Events).
func BenchmarkMessagePush(b *testing.B) {
	cfg, _ := Config{URL: "ws://x", Name: "b"}.withDefaults()
	c := &Client{cfg: cfg, q: newEventQueue(cfg.EventBuffer), events: make(chan Event), stop: make(chan struct{}),
		rooms: make(map[string]*roomState)}
	s := &session{c: c, pending: make(map[int64]*call), done: make(chan struct{})}
	c.sess, c.ready = s, true
	rs := &roomState{id: "general", joined: true}
	rs.at("e1", 0)
	c.rooms["general"] = rs
	go c.q.run(c.events, c.stop)
	defer close(c.stop)
	got := make(chan int)
	go func() {
		n := 0
		for range c.events {
			n++
			if n == b.N {
				got <- n
			}
		}
	}()
	prefix := []byte(`{"type":"message","roomId":"general","epoch":"e1","content":"hello, this is a chat message of ordinary length","userId":"u1234567","name":"Alice","timestamp":"2026-01-02T03:04:05.678Z","offset":`)
	buf := make([]byte, 0, len(prefix)+32)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		buf = strconv.AppendUint(append(buf[:0], prefix...), uint64(i), 10)
		buf = append(buf, '}')
		c.handleFrame(s, buf)
		if s.overflow.Load() {
			b.Fatal("overflow")
		}
		for c.q.full() { // (a reader keeps up in practice; this one must not fall behind here)
			runtime.Gosched()
		}
	}
	<-got
}
