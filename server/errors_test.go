package server_test

import (
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// Every bad request gets an error reply with the reference text (where the
// reference app has one) and a stable code, and the connection stays open.
func TestBadRequests(t *testing.T) {
	s := startServer(t, nil)
	c := connect(t, s)
	long := strings.Repeat("x", 65)
	for _, tc := range []struct {
		name, req, text, code string
	}{
		{"not json", `not json`, "Invalid JSON format", "invalid_json"},
		{"truncated", `{"type":"join"`, "Invalid JSON format", "invalid_json"},
		{"empty", ``, "Invalid JSON format", "invalid_json"},
		{"array", `[]`, "Message must be a JSON object", "not_object"},
		{"string", `"x"`, "Message must be a JSON object", "not_object"},
		{"number", `5`, "Message must be a JSON object", "not_object"},
		{"null", `null`, "Message must be a JSON object", "not_object"},
		{"type number", `{"type":5}`, `Field "type" must be a string`, "bad_type"},
		{"type object", `{"type":{}}`, `Field "type" must be a string`, "bad_type"},
		{"no type", `{}`, "Unknown message type", "unknown_type"},
		{"unknown type", `{"type":"dance"}`, "Unknown message type", "unknown_type"},
		{"join no fields", `{"type":"join"}`, "roomId & username required", "join_fields"},
		{"join no username", `{"type":"join","roomId":"r"}`, "roomId & username required", "join_fields"},
		{"join no room", `{"type":"join","username":"u"}`, "roomId & username required", "join_fields"},
		{"join blank", `{"type":"join","roomId":" ","username":"u"}`, "roomId & username required", "join_fields"},
		{"join room number", `{"type":"join","roomId":5,"username":"u"}`, `Field "roomId" must be a string`, "bad_field"},
		{"join username bool", `{"type":"join","roomId":"r","username":true}`, `Field "username" must be a string`, "bad_field"},
		{"username too long", `{"type":"join","roomId":"r","username":"` + long + `"}`, "username is too long (max 64 bytes)", "too_long"},
		{"roomId too long", `{"type":"join","roomId":"` + strings.Repeat("r", 129) + `","username":"u"}`, "roomId is too long (max 128 bytes)", "too_long"},
		{"roomName too long", `{"type":"join","roomId":"r","username":"u","roomName":"` + strings.Repeat("n", 129) + `"}`, "roomName is too long (max 128 bytes)", "too_long"},
		{"username control", `{"type":"join","roomId":"r","username":"a\u0007b"}`, "username must not contain control characters", "control_chars"},
		{"roomId newline", `{"type":"join","roomId":"a\nb","username":"u"}`, "roomId must not contain control characters", "control_chars"},
		{"roomName C1 control", `{"type":"join","roomId":"r","username":"u","roomName":"a\u0085"}`, "roomName must not contain control characters", "control_chars"},
		{"message before join", `{"type":"message","content":"hi"}`, "Join a room first", "not_in_room"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.send(tc.req)
			c.expectError(tc.text, tc.code)
		})
	}
	// Still open and serving.
	c.join("r", "u")
}

func TestBadContent(t *testing.T) {
	s := startServer(t, nil)
	c := connect(t, s)
	c.join("room", "alice")
	for _, req := range []string{
		`{"type":"message"}`,
		`{"type":"message","content":""}`,
		`{"type":"message","content":5}`,
		`{"type":"message","content":null}`,
		`{"type":"message","content":{"a":1}}`,
		`{"type":"message","content":["x"]}`,
	} {
		c.send(req)
		c.expectError(`Field "content" must be a non-empty string`, "bad_content")
	}
	c.send(`{"type":"message","content":"still here"}`)
	if m := c.expect("message"); m.str("content") != "still here" {
		t.Fatal(m)
	}
}

// Binary frames carrying the same JSON are accepted; replies are text.
func TestBinaryFrames(t *testing.T) {
	s := startServer(t, nil)
	c := connect(t, s)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"join","roomId":"bin","username":"b"}`)); err != nil {
		t.Fatal(err)
	}
	_ = c.ws.SetReadDeadline(deadline())
	typ, p, err := c.ws.ReadMessage()
	if err != nil || typ != websocket.TextMessage || !strings.Contains(string(p), `"roomJoined"`) {
		t.Fatalf("got %d %s %v", typ, p, err)
	}
	// Invalid UTF-8 in a binary frame is not JSON text.
	if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte("{\"type\":\"message\",\"content\":\"\xff\"}")); err != nil {
		t.Fatal(err)
	}
	c.expectError("Invalid JSON format", "invalid_json")
}
