package server_test

import (
	"testing"
)

func TestReferenceTranscript(t *testing.T) {
	s := startServer(t, freshRoomLists) // the transcript asks for the list right after changes
	a := connect(t, s)
	a.send(`{"type":"message","content":"before join"}`)
	a.expectError("Join a room first", "not_in_room")
	a.send(`not json`)
	a.expectError("Invalid JSON format", "invalid_json")
	a.send(`{"type":"dance"}`)
	a.expectError("Unknown message type", "unknown_type")
	a.send(`{"type":"join","roomId":"general"}`)
	a.expectError("roomId & username required", "join_fields")
	a.send(`{"type":"join","roomId":"general","username":"alice","roomName":"General Discussion"}`)
	if m := a.expect("roomJoined"); m.num("memberCount") != 1 {
		t.Fatalf("count %v", m)
	}
	b := connect(t, s)
	if m := b.join("general", "bob"); m.num("memberCount") != 2 {
		t.Fatalf("count %v", m)
	}
	if m := a.expect("userJoined"); m.str("username") != "bob" || m.str("userId") != b.userID || m.num("memberCount") != 2 {
		t.Fatalf("userJoined %v", m)
	}
	a.send(`{"type":"message","content":"Hello everyone! 👋"}`)
	echo := a.expect("message")
	got := b.expect("message")
	for _, m := range []msg{echo, got} {
		if m.str("content") != "Hello everyone! 👋" || m.str("username") != "alice" || m.str("userId") != a.userID || len(m.str("timestamp")) != 24 {
			t.Fatalf("message %v", m)
		}
	}
	if echo.str("timestamp") != got.str("timestamp") {
		t.Fatalf("timestamps differ")
	}
	b.send(`{"type":"getRoomList"}`)
	rl := b.expect("roomList")
	rooms := rl["rooms"].([]any)
	if len(rooms) != 1 {
		t.Fatalf("rooms %v", rl)
	}
	r0 := msg(rooms[0].(map[string]any))
	if r0.str("roomId") != "general" || r0.str("name") != "General Discussion" || r0.num("memberCount") != 2 || len(r0.str("createdAt")) != 24 {
		t.Fatalf("room %v", r0)
	}
	b.send(`{"type":"leaveRoom"}`)
	if m := a.expect("userLeft"); m.str("username") != "bob" || m.num("memberCount") != 1 {
		t.Fatalf("userLeft %v", m)
	}
	b.join("general", "bob")
	if m := a.expect("userJoined"); m.num("memberCount") != 2 {
		t.Fatalf("userJoined %v", m)
	}
	b.ws.Close()
	if m := a.expect("userLeft"); m.str("userId") != b.userID || m.num("memberCount") != 1 {
		t.Fatalf("userLeft %v", m)
	}
	a.send(`{"type":"leaveRoom"}`)
	a.send(`{"type":"getRoomList"}`)
	rl = a.expect("roomList")
	if rooms := rl["rooms"].([]any); len(rooms) != 0 {
		t.Fatalf("rooms %v", rl)
	}
}
