package server

import (
	"strings"
	"testing"
)

// A cluster payload is decoded once into the client frame: known types are
// re-encoded with exactly the reference fields, unknown ones forwarded minus
// the header members, and non-events refused.
func TestDecodeEvent(t *testing.T) {
	for _, tc := range []struct {
		payload, frame, exclude string
		unknown, bad            bool
	}{
		{payload: `{"type":"message","content":"hi","username":"a","userId":"u","timestamp":"t","excludeUserId":"x","origin":"n","seq":5}`,
			frame: `{"type":"message","content":"hi","username":"a","userId":"u","timestamp":"t"}`, exclude: "x"},
		{payload: `{"type":"userJoined","username":"a","userId":"u","memberCount":0,"excludeUserId":"u"}`,
			frame: `{"type":"userJoined","username":"a","userId":"u","memberCount":0}`, exclude: "u"},
		{payload: `{"origin":"n","type":"custom","excludeUserId":"x","a":[1,{"b":null}]}`,
			frame: `{"type":"custom","a":[1,{"b":null}]}`, exclude: "x", unknown: true},
		{payload: `{"type":5}`, bad: true},
		{payload: `{"content":"no type"}`, bad: true},
		{payload: `[1,2]`, bad: true},
		{payload: `not json`, bad: true},
	} {
		frame, exclude, unknown, err := decodeEvent(tc.payload)
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
		if got := string(frame[frameHeaderLen(frame):]); got != tc.frame || exclude != tc.exclude || unknown != tc.unknown {
			t.Errorf("%s:\n got %s exclude %q unknown %v\nwant %s exclude %q unknown %v", tc.payload, got, exclude,
				unknown, tc.frame, tc.exclude, tc.unknown)
		}
	}
}

// The event handed to a broker carries the frame's JSON as its body, without
// a copy, for frames of every header size.
func TestRoomEventBody(t *testing.T) {
	for _, n := range []int{10, 200, 70000} {
		frame := frameOf(&Chat{Type: TypeMessage, Content: strings.Repeat("x", n)})
		ev := roomEvent("r", frame, "u1")
		if !strings.HasPrefix(string(ev.Body), `{"type":"message"`) || ev.Body[len(ev.Body)-1] != '}' ||
			&ev.Body[len(ev.Body)-1] != &frame[len(frame)-1] || ev.Exclude != "u1" {
			t.Fatalf("content %d: body %.40q exclude %q", n, ev.Body, ev.Exclude)
		}
	}
}

// PresenceBody is the reference app's userJoined/userLeft object.
func TestPresenceBody(t *testing.T) {
	s := &Server{}
	got := string(s.PresenceBody(false, memberOf("r", "u1", `a"b`), 3))
	if want := `{"type":"userLeft","username":"a\"b","userId":"u1","memberCount":3}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	got = string(s.PresenceBody(true, memberOf("r", "u1", "al"), 4))
	if want := `{"type":"userJoined","username":"al","userId":"u1","memberCount":4}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	p := `{"type":"message","content":"Hello everyone! this is a typical chat line","username":"alice","userId":"ypk0gg3ew5","timestamp":"2026-11-26T19:41:01.978Z","excludeUserId":"ypk0gg3ew5","origin":"node-1"}`
	b.ReportAllocs()
	for b.Loop() {
		_, _, _, _ = decodeEvent(p)
	}
}
