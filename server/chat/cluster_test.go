package chat

import (
	"strings"
	"testing"

	"github.com/chatd/chatd/server/broker"
)

// A cluster payload is decoded once: known types are kept as fields (their
// reference form re-encoded with exactly the reference fields), unknown ones
// and typing notices kept as published minus the header members, and
// non-events refused.
func TestDecodeEvent(t *testing.T) {
	for _, tc := range []struct {
		payload, ref, origin, exclude string
		kind                          EventKind
		conn                          uint64
		bad                           bool
	}{
		{payload: `{"type":"message","content":"hi","username":"a","userId":"u","timestamp":"t","excludeUserId":"x","origin":"n","originConn":7,"seq":5,"offset":3,"epoch":"e"}`,
			ref:  `{"type":"message","content":"hi","username":"a","userId":"u","timestamp":"t"}`,
			kind: EvMessage, origin: "n", conn: 7, exclude: "x"},
		{payload: `{"type":"userJoined","username":"a","userId":"u","memberCount":0,"excludeUserId":"u"}`,
			ref: `{"type":"userJoined","username":"a","userId":"u","memberCount":0}`, kind: EvJoined, exclude: "u"},
		{payload: `{"type":"userLeft","username":"a","userId":"u","memberCount":3}`,
			ref: `{"type":"userLeft","username":"a","userId":"u","memberCount":3}`, kind: EvLeft},
		{payload: `{"type":"typing","username":"a","userId":"u","origin":"n","originConn":9,"extra":1}`,
			ref: `{"type":"typing","username":"a","userId":"u","extra":1}`, kind: EvTyping, origin: "n", conn: 9},
		{payload: `{"origin":"n","type":"custom","excludeUserId":"x","a":[1,{"b":null}],"originConn":3}`,
			ref: `{"type":"custom","a":[1,{"b":null}]}`, kind: EvOther, origin: "n", conn: 3, exclude: "x"},
		{payload: `{"type":5}`, bad: true},
		{payload: `{"content":"no type"}`, bad: true},
		{payload: `[1,2]`, bad: true},
		{payload: `not json`, bad: true},
	} {
		ev, origin, conn, exclude, err := decodeEvent("r", tc.payload)
		if tc.bad {
			if err == nil {
				t.Errorf("%s: decoded, want an error", tc.payload)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.payload, err)
			continue
		}
		ref := string(ev.Body())
		if ref != tc.ref || ev.Kind != tc.kind || ev.Room != "r" || origin != tc.origin || conn != tc.conn ||
			exclude != tc.exclude {
			t.Errorf("%s:\n got ref %s kind %d origin %q conn %d exclude %q\nwant ref %s kind %d origin %q conn %d exclude %q",
				tc.payload, ref, ev.Kind, origin, conn, exclude, tc.ref, tc.kind, tc.origin, tc.conn, tc.exclude)
		}
	}
	ev, _, _, _, _ := decodeEvent("r", `{"type":"message","content":"hi","username":"a","userId":"u","timestamp":"t","offset":3,"epoch":"e"}`)
	if ev.Offset != 3 || ev.Epoch != "e" || ev.Content != "hi" || ev.Name != "a" || ev.UserID != "u" || ev.Timestamp != "t" {
		t.Fatalf("message fields %+v", ev)
	}
}

// The cluster body of an event is the reference shape, for frames of every
// header size; the framed reference is the body in a text frame, built once.
func TestEventBody(t *testing.T) {
	for _, n := range []int{10, 200, 70000} {
		ev := &Event{Kind: EvMessage, Room: "r", Content: strings.Repeat("x", n), Name: "al", UserID: "u1", Timestamp: "t"}
		want := `{"type":"message","content":"` + strings.Repeat("x", n) + `","username":"al","userId":"u1","timestamp":"t"}`
		if got := string(ev.Body()); got != want {
			t.Fatalf("content %d: body %.80s", n, got)
		}
		f := ev.FramedReference(WebSocketText)
		if string(f[len(f)-len(want):]) != want || f[0] != 0x81 || &ev.FramedReference(WebSocketText)[0] != &f[0] {
			t.Fatalf("content %d: frame %.20q", n, f)
		}
	}
	ev := &Event{Kind: EvTyping, Room: "r", Name: "al", UserID: "u1"}
	if got := string(ev.Body()); got != `{"type":"typing","username":"al","userId":"u1"}` {
		t.Fatalf("typing body %s", got)
	}
	if (&Event{Kind: EvResync}).Reference() != nil {
		t.Fatal("a resync has a cluster form")
	}
}

// PresenceBody is the reference app's userJoined/userLeft object.
func TestPresenceBody(t *testing.T) {
	n := &Node{}
	got := string(n.PresenceBody(false, broker.Member{Room: "r", User: "u1", Name: `a"b`}, 3))
	if want := `{"type":"userLeft","username":"a\"b","userId":"u1","memberCount":3}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	got = string(n.PresenceBody(true, broker.Member{Room: "r", User: "u1", Name: "al"}, 4))
	if want := `{"type":"userJoined","username":"al","userId":"u1","memberCount":4}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	p := `{"type":"message","content":"Hello everyone! this is a typical chat line","username":"alice","userId":"ypk0gg3ew5","timestamp":"2026-11-26T19:41:01.978Z","excludeUserId":"ypk0gg3ew5","origin":"node-1","originConn":12345}`
	b.ReportAllocs()
	for b.Loop() {
		ev, _, _, _, _ := decodeEvent("general", p)
		_ = ev.FramedReference(WebSocketText)
	}
}
