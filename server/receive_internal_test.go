package server

import (
	"strings"
	"testing"
)

// A cluster payload is decoded once: known types are re-encoded with exactly
// the reference fields for v1 and in v2's shape, unknown ones forwarded to v1
// minus the header members, and non-events refused.
func TestDecodeEvent(t *testing.T) {
	for _, tc := range []struct {
		payload, v1, v2, origin, exclude string
		conn                             uint64
		bad                              bool
	}{
		{payload: `{"type":"message","content":"hi","username":"a","userId":"u","timestamp":"t","excludeUserId":"x","origin":"n","originConn":7,"seq":5}`,
			v1:     `{"type":"message","content":"hi","username":"a","userId":"u","timestamp":"t"}`,
			v2:     `{"type":"message","roomId":"r","content":"hi","userId":"u","name":"a","timestamp":"t"}`,
			origin: "n", conn: 7, exclude: "x"},
		{payload: `{"type":"userJoined","username":"a","userId":"u","memberCount":0,"excludeUserId":"u"}`,
			v1: `{"type":"userJoined","username":"a","userId":"u","memberCount":0}`,
			v2: `{"type":"joined","roomId":"r","userId":"u","name":"a","memberCount":0}`, exclude: "u"},
		{payload: `{"type":"userLeft","username":"a","userId":"u","memberCount":3}`,
			v1: `{"type":"userLeft","username":"a","userId":"u","memberCount":3}`,
			v2: `{"type":"left","roomId":"r","userId":"u","name":"a","memberCount":3}`},
		{payload: `{"type":"typing","username":"a","userId":"u","origin":"n","originConn":9,"extra":1}`,
			v1: `{"type":"typing","username":"a","userId":"u","extra":1}`,
			v2: `{"type":"typing","roomId":"r","userId":"u","name":"a"}`, origin: "n", conn: 9},
		{payload: `{"origin":"n","type":"custom","excludeUserId":"x","a":[1,{"b":null}],"originConn":3}`,
			v1: `{"type":"custom","a":[1,{"b":null}]}`, origin: "n", conn: 3, exclude: "x"},
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
		v1, v2 := body(ev.v1Frame()), body(ev.v2Frame())
		if v1 != tc.v1 || v2 != tc.v2 || origin != tc.origin || conn != tc.conn || exclude != tc.exclude {
			t.Errorf("%s:\n got v1 %s v2 %s origin %q conn %d exclude %q\nwant v1 %s v2 %s origin %q conn %d exclude %q",
				tc.payload, v1, v2, origin, conn, exclude, tc.v1, tc.v2, tc.origin, tc.conn, tc.exclude)
		}
	}
}

func body(frame []byte) string {
	if frame == nil {
		return ""
	}
	return string(frame[frameHeaderLen(frame):])
}

// The cluster body of an event is the reference shape, for frames of every
// header size.
func TestEventBody(t *testing.T) {
	for _, n := range []int{10, 200, 70000} {
		ev := &event{kind: evMessage, room: "r", content: strings.Repeat("x", n), username: "al", userID: "u1", timestamp: "t"}
		got := string(ev.body())
		if want := `{"type":"message","content":"` + strings.Repeat("x", n) + `","username":"al","userId":"u1","timestamp":"t"}`; got != want {
			t.Fatalf("content %d: body %.80s", n, got)
		}
	}
	ev := &event{kind: evTyping, room: "r", username: "al", userID: "u1"}
	if got := string(ev.body()); got != `{"type":"typing","username":"al","userId":"u1"}` {
		t.Fatalf("typing body %s", got)
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
	p := `{"type":"message","content":"Hello everyone! this is a typical chat line","username":"alice","userId":"ypk0gg3ew5","timestamp":"2026-11-26T19:41:01.978Z","excludeUserId":"ypk0gg3ew5","origin":"node-1","originConn":12345}`
	b.ReportAllocs()
	for b.Loop() {
		ev, _, _, _, _ := decodeEvent("general", p)
		_ = ev.v1Frame()
	}
}
