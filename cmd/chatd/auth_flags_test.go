package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/auth"
)

const secret32 = "0123456789abcdef0123456789abcdef"

func TestAuthFlags(t *testing.T) {
	o, err := parseFlags([]string{"-auth", "optional", "-guest-rooms", "lobby, public-*", "-jwt-leeway", "0",
		"-admin", "127.0.0.1:9090"}, env(map[string]string{"CHATD_JWT_SECRET": secret32, "CHATD_API_KEY": "k-0123456789abcdef"}))
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Auth != server.AuthOptional || string(c.AuthKeys.Secret) != secret32 || c.AuthKeys.Leeway >= 0 ||
		c.APIKey != "k-0123456789abcdef" || c.AuthKeys.Poll != server.DefaultJWKSPoll {
		t.Fatalf("config %+v", c)
	}
	if !c.GuestRooms.Allows("lobby") || !c.GuestRooms.Allows("public-9") || c.GuestRooms.Allows("private") {
		t.Fatalf("guest rooms %v", c.GuestRooms)
	}
	// Off by default, like the reference app.
	if o, err := parseFlags(nil, env(nil)); err != nil || o.cfg.Auth != server.AuthOff || o.cfg.APIKey != "" {
		t.Fatalf("defaults: %+v %v", o, err)
	}
}

func TestAuthFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-auth", "maybe"}, "want off, optional or required"},
		{[]string{"-auth", "required"}, "needs a key"},
		{[]string{"-auth", "required", "-jwt-secret", "short"}, "at least 32"},
		{[]string{"-guest-rooms", "x"}, "needs -auth optional"},
		{[]string{"-auth", "required", "-jwt-secret", secret32, "-guest-rooms", "x"}, "needs -auth optional"},
		{[]string{"-api-key", "short", "-admin", "127.0.0.1:1"}, "at least 16"},
		{[]string{"-api-key", "k-0123456789abcdef"}, "needs -admin"},
		{[]string{"-api-on-main"}, "needs -api-key"},
		{[]string{"-jwt-leeway", "-1s"}, "must not be negative"},
	} {
		if _, err := parseFlags(tc.args, env(nil)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// chatd token mints a token that the server's verifier accepts, with the
// claims asked for.
func TestTokenSubcommand(t *testing.T) {
	var out, errOut bytes.Buffer
	code := runToken([]string{"-sub", "alice", "-name", "Alice", "-rooms", "general, team-*", "-ttl", "10m"},
		env(map[string]string{"CHATD_JWT_SECRET": secret32}), &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	v, err := auth.New(auth.Options{Secret: []byte(secret32)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != "alice" || c.Name != "Alice" || !c.Rooms.Allows("team-x") || c.Rooms.Allows("random") ||
		time.Until(c.Expires) > 10*time.Minute || time.Until(c.Expires) < 9*time.Minute {
		t.Fatalf("claims %+v", c)
	}
	for _, args := range [][]string{{"-sub", "a"}, {"-secret", secret32}, {"-secret", "short", "-sub", "a"},
		{"-secret", secret32, "-sub", "a", "-ttl", "-1s"}} {
		out.Reset()
		if code := runToken(args, env(nil), &out, &errOut); code != 2 || out.Len() != 0 {
			t.Errorf("%v: exit %d, out %q", args, code, out.String())
		}
	}
}
