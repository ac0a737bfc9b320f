package server_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
)

// What one user (with a token) or one address (without) creates is
// bounded: past the allowance, a join of a room nobody is in is refused and
// the room is not left behind; joins of existing rooms still work, and
// other users are not affected.
func TestRoomCreationBounded(t *testing.T) {
	t.Run("user", func(t *testing.T) {
		s := startServer(t, withAuth(server.AuthRequired, func(c *server.Config) {
			c.UserRoomCreateRate, c.UserRoomCreateBurst = 0.001, 3
		}))
		hello := func(sub string) *v2client {
			c := dialV2(t, s.Addr())
			c.call(map[string]any{"type": "hello", "token": mint(t, sub, time.Hour, nil)})
			return c
		}
		checkCreationBound(t, s, hello("mallory"), hello("alice"), mint(t, "lister", time.Hour, nil))
	})
	t.Run("address", func(t *testing.T) {
		s := startServer(t, func(c *server.Config) { c.AddrRoomCreateRate, c.AddrRoomCreateBurst = 0.001, 3 })
		other := dialV2From(t, s.Addr(), "127.0.0.2")
		other.call(map[string]any{"type": "hello", "name": "alice"})
		checkCreationBound(t, s, connectV2(t, s.Addr(), "mallory"), other, "")
	})
}

func checkCreationBound(t *testing.T, s *server.Server, mallory, alice *v2client, listToken string) {
	t.Helper()
	for i := 0; i < 3; i++ {
		mallory.join(fmt.Sprint("m", i))
	}
	m := mallory.callError(map[string]any{"type": "join", "roomId": "m3"}, "rate_limited")
	if m.str("message") != "Too many new rooms, slow down" {
		t.Fatalf("refusal %v", m)
	}
	alice.join("alices-own")
	alice.join("existing")
	mallory.join("existing") // not a creation: alice is in it
	var ids []string
	for _, r := range roomList(dialToken(t, s.Addr(), listToken)) {
		ids = append(ids, r.str("roomId"))
	}
	slices.Sort(ids)
	if fmt.Sprint(ids) != "[alices-own existing m0 m1 m2]" {
		t.Fatalf("rooms %v: the refused room is left behind, or one is missing", ids)
	}
}
