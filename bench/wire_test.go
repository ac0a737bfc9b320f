package bench

import (
	"testing"
)

func TestScanServerMsg(t *testing.T) {
	cases := []struct {
		in      string
		typ     string
		content string
		count   int64
	}{
		{`{"type":"message","content":"b:1:2:3:x","username":"u1","userId":"abc","timestamp":"2026-11-26T19:41:01.978Z"}`, "message", "b:1:2:3:x", -1},
		{`{ "content" : "hi \"there\"", "nested": {"type":"no", "a":[1,{"b":"}"}]}, "type" : "message" }`, "message", `hi \"there\"`, -1},
		{`{"type":"roomJoined","roomId":"r","memberCount":17,"message":"Joined room r"}`, "roomJoined", "", 17},
		{`{"memberCount":2,"type":"userJoined","username":"bob","userId":"x","ok":true,"n":null,"f":-1.5e3}`, "userJoined", "", 2},
		{`{}`, "", "", -1},
	}
	for _, c := range cases {
		var m serverMsg
		if !scanServerMsg([]byte(c.in), &m) {
			t.Fatalf("%s: not parsed", c.in)
		}
		if string(m.typ) != c.typ || string(m.content) != c.content || m.memberCount != c.count {
			t.Fatalf("%s: got type %q content %q count %d", c.in, m.typ, m.content, m.memberCount)
		}
	}
	for _, bad := range []string{``, `[]`, `{"type":"x"`, `{"type" "x"}`, `{"type":"x",}`, `not json`, `{"a":{"b":1}`} {
		var m serverMsg
		if scanServerMsg([]byte(bad), &m) {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestContentRoundTrip(t *testing.T) {
	for _, size := range []int{0, 10, 64, 1000} {
		b := appendContent(nil, 12345, 678, 1764186061978123456, size == 64, size)
		if size > len("b:12345:678:1764186061978123456:x") && len(b) != size {
			t.Fatalf("size %d: content is %d bytes", size, len(b))
		}
		var c content
		if !parseContent(b, &c) {
			t.Fatalf("size %d: %q not parsed", size, b)
		}
		if c.sender != 12345 || c.seq != 678 || c.sentNs != 1764186061978123456 || c.last != (size == 64) {
			t.Fatalf("size %d: parsed %+v", size, c)
		}
	}
	for _, bad := range []string{"", "hello", "b:", "b:1:2", "b:1:2:3", "b:x:2:3:x", "b:1::3:x", "b:99999999999:1:1:x"} {
		var c content
		if parseContent([]byte(bad), &c) {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	msg := []byte(`{"type":"message","content":"b:3:41:1764186061978123456:xxxxxxxx","username":"u3","userId":"abcdefghij","timestamp":"2026-11-26T19:41:01.978Z"}`)
	var t0 recvTrack
	seq := uint32(0)
	allocs := testing.AllocsPerRun(1000, func() {
		var m serverMsg
		var c content
		if !scanServerMsg(msg, &m) || string(m.typ) != "message" || !parseContent(m.content, &c) {
			t.Fatal("parse failed")
		}
		t0.observe(uint32(c.sender), 10, seq)
		seq++
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per delivery", allocs)
	}
}

func TestClientMessages(t *testing.T) {
	if got := string(appendJoin(nil, []byte("room-1"), []byte("u7"))); got != `{"type":"join","roomId":"room-1","username":"u7"}` {
		t.Fatal(got)
	}
	if got := string(appendMessage(nil, []byte("b:1:2:3:x"))); got != `{"type":"message","content":"b:1:2:3:x"}` {
		t.Fatal(got)
	}
}
