package bench

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestScanServerMsgV2(t *testing.T) {
	var m serverMsg
	in := `{"type":"ok","id":"j2","roomId":"bench-x-3","memberCount":4,"epoch":"e\"1","offset":17,"recovered":false,` +
		`"messages":[{"type":"message","roomId":"bench-x-3","offset":16,"content":"b:1:2:3:x"},{"offset":17,"content":"b:4:5:6:L"}]}`
	if !scanServerMsg([]byte(in), &m) {
		t.Fatal("not parsed")
	}
	if string(m.typ) != "ok" || string(m.id) != "j2" || string(m.roomID) != "bench-x-3" || m.memberCount != 4 ||
		string(m.epoch) != `e\"1` || m.offset != 17 || m.recovered != 0 || !strings.HasPrefix(string(m.messages), "[{") {
		t.Fatalf("scanned %+v", m)
	}
	var offsets []int64
	var contents []string
	for i := 0; ; {
		s, e, next, ok := nextElem(m.messages, i)
		if !ok {
			break
		}
		i = next
		var em serverMsg
		if !scanServerMsg(m.messages[s:e], &em) {
			t.Fatalf("element %q not parsed", m.messages[s:e])
		}
		offsets = append(offsets, em.offset)
		contents = append(contents, string(em.content))
	}
	if len(offsets) != 2 || offsets[0] != 16 || offsets[1] != 17 || contents[1] != "b:4:5:6:L" {
		t.Fatalf("messages: offsets %v contents %v", offsets, contents)
	}
	for _, arr := range []string{`[]`, ` [ ] `, `[`, `{}`, ``} {
		if _, _, _, ok := nextElem([]byte(arr), 0); ok {
			t.Fatalf("%q has an element", arr)
		}
	}
	// Absent v2 fields read as absent.
	if !scanServerMsg([]byte(`{"type":"message","roomId":"r","content":"c","recovered":true}`), &m) ||
		m.offset != -1 || m.recovered != 1 || m.id != nil || m.messages != nil {
		t.Fatalf("scanned %+v", m)
	}
}

func TestReplyIDs(t *testing.T) {
	for in, want := range map[string]replyID{
		"h": {kind: 'h'}, "j0": {kind: 'j'}, "j12": {kind: 'j', n: 12}, "l3": {kind: 'l', n: 3},
		"p41:1764186061978123456": {kind: 'p', n: 41, ns: 1764186061978123456},
		"":                        {}, "hx": {}, "j": {}, "jx": {}, "p": {}, "p1": {}, "p1:": {}, "p:2": {}, "p1:2:3": {},
		"p99999999999:1": {}, "x1": {}, "p1:2x": {},
	} {
		if got := parseReplyID([]byte(in)); got != want {
			t.Errorf("parseReplyID(%q) = %+v, want %+v", in, got, want)
		}
	}
}

// Every v2 request we build is one valid JSON object of the shape the README's protocol v2 asks for.
func TestClientMessagesV2(t *testing.T) {
	var v map[string]any
	check := func(b []byte, want string) {
		t.Helper()
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if string(b) != want {
			t.Fatalf("got  %s\nwant %s", b, want)
		}
	}
	check(appendHello(nil, []byte("u7")), `{"type":"hello","id":"h","name":"u7"}`)
	check(appendJoinV2(nil, 2, []byte("r-1"), -1, nil), `{"type":"join","id":"j2","roomId":"r-1"}`)
	check(appendJoinV2(nil, 0, []byte("r-1"), 0, &since{epoch: `e\"x`, offset: 42}),
		`{"type":"join","id":"j0","roomId":"r-1","history":0,"since":{"epoch":"e\"x","offset":42}}`)
	check(appendLeaveV2(nil, 1, []byte("r-1")), `{"type":"leave","id":"l1","roomId":"r-1"}`)
	check(appendLeaveV2(nil, -1, []byte("r-1")), `{"type":"leave","roomId":"r-1"}`)
	p := appendPublish(nil, []byte("r-1"), 12, 34, 56, true, 40)
	if err := json.Unmarshal(p, &v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	var ct content
	if v["type"] != "publish" || v["roomId"] != "r-1" || v["id"] != "p34:56" || !parseContent([]byte(v["content"].(string)), &ct) ||
		ct.sender != 12 || ct.seq != 34 || ct.sentNs != 56 || !ct.last || len(v["content"].(string)) != 40 {
		t.Fatalf("publish %s", p)
	}
}

// A v2 delivery (push scan, content, tracking) and a publish reply allocate nothing.
func TestHotPathV2DoesNotAllocate(t *testing.T) {
	push := []byte(`{"type":"message","roomId":"bench-1a2b-7","offset":1234,"content":"b:3:41:1764186061978123456:xxxxxxxx","userId":"abcdefghij","name":"u3","timestamp":"2026-11-26T19:41:01.978Z"}`)
	ack := []byte(`{"type":"ok","id":"p41:1764186061978123456","offset":1235,"timestamp":"2026-11-26T19:41:01.978Z"}`)
	var tr recvTrack
	seq := uint32(0)
	allocs := testing.AllocsPerRun(1000, func() {
		var m serverMsg
		var c content
		if !scanServerMsg(push, &m) || string(m.typ) != "message" || m.offset != 1234 || !parseContent(m.content, &c) {
			t.Fatal("parse failed")
		}
		tr.observe(uint32(c.sender), 10, seq)
		seq++
		if !scanServerMsg(ack, &m) || parseReplyID(m.id).kind != 'p' {
			t.Fatal("ack parse failed")
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per delivery", allocs)
	}
}
