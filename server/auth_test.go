package server_test

import (
	"encoding/base64"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/auth"
	"github.com/golang-jwt/jwt/v5"
)

// Every refusal reason at the upgrade: a 401 before any WebSocket, for v1
// and v2 alike, counted by reason.
func TestAuthUpgradeRefusals(t *testing.T) {
	s := startServer(t, withAuth(server.AuthRequired, func(c *server.Config) {
		c.AuthKeys.Audience, c.AuthKeys.Issuer = "chat", "https://id.example"
		c.AuthKeys.PublicKeyFile = ecPEM(t)
	}))
	now := time.Now()
	good := jwt.MapClaims{"aud": "chat", "iss": "https://id.example"}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range good {
			c[k] = v
		}
		c[k] = v
		return c
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix(),
		"aud": "chat", "iss": "https://id.example"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	// The ES256 public key's PEM as an HMAC secret: algorithm confusion.
	pemBytes, _ := os.ReadFile(ecPEM(t))
	confused, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "admin", "exp": now.Add(time.Hour).Unix(),
		"aud": "chat", "iss": "https://id.example"}).SignedString(pemBytes)
	otherKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix(),
		"aud": "chat", "iss": "https://id.example"}).SignedString([]byte("a different secret of 32 bytes or more"))
	es, _ := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "es-user", "exp": now.Add(time.Hour).Unix(),
		"aud": "chat", "iss": "https://id.example"}).SignedString(esKey())

	cases := []struct {
		name   string
		token  string
		reason auth.Reason
	}{
		{"malformed", "not.a.token", auth.ReasonMalformed},
		{"garbage", "%%%", auth.ReasonMalformed},
		{"bad signature", otherKey, auth.ReasonSignature},
		{"alg none", none, auth.ReasonAlgorithm},
		{"public key as HMAC secret", confused, auth.ReasonSignature},
		{"HS384", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS384, jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix()}).SignedString(testSecret)
			return s
		}(), auth.ReasonAlgorithm},
		{"expired", mint(t, "alice", -time.Minute, good), auth.ReasonExpired},
		{"not yet valid", mint(t, "alice", time.Hour, with("nbf", now.Add(time.Hour).Unix())), auth.ReasonNotYetValid},
		{"no exp", mint(t, "alice", time.Hour, with("exp", nil)), auth.ReasonMissingClaim},
		{"wrong audience", mint(t, "alice", time.Hour, with("aud", "other")), auth.ReasonAudience},
		{"wrong issuer", mint(t, "alice", time.Hour, with("iss", "https://evil.example")), auth.ReasonIssuer},
		{"system user", mint(t, server.SystemUserID, time.Hour, good), auth.ReasonClaims},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := scrape(t, s)[`chatd_auth_refusals_total{reason="`+string(tc.reason)+`"}`]
			expectRefusedUpgrade(t, s.Addr(), tc.token, false, tc.reason)
			expectRefusedUpgrade(t, s.Addr(), tc.token, true, tc.reason)
			if got := scrape(t, s)[`chatd_auth_refusals_total{reason="`+string(tc.reason)+`"}`]; got != before+2 {
				t.Fatalf("refusals{%s} went from %v to %v, want +2", tc.reason, before, got)
			}
		})
	}
	// A v1 upgrade without a token: 401 (a v2 one may bring it in hello).
	expectRefusedUpgrade(t, s.Addr(), "", false, auth.ReasonMissing)
	// Good tokens: HS256 and ES256 (the public key file).
	if c := dialToken(t, s.Addr(), mint(t, "alice", time.Hour, good)); c.userID != "alice" {
		t.Fatalf("userId %q", c.userID)
	}
	if c := dialToken(t, s.Addr(), es); c.userID != "es-user" {
		t.Fatalf("userId %q", c.userID)
	}
}

// v2: a bad or missing token at hello gets unauthorized, then close 1008.
func TestAuthV2Hello(t *testing.T) {
	s := startServer(t, withAuth(server.AuthRequired))
	for name, token := range map[string]string{"missing": "", "bad": "x.y.z", "expired": mint(t, "alice", -time.Hour, nil)} {
		t.Run(name, func(t *testing.T) {
			c := dialV2(t, s.Addr())
			m := c.callError(map[string]any{"type": "hello", "name": "alice", "token": token}, "unauthorized")
			if strings.Contains(m.str("message"), token) && token != "" {
				t.Fatalf("error echoes the token: %v", m)
			}
			expectClose(t, c.ws, 1008)
		})
	}
	// A good token names the user: hello's name is ignored.
	c, ok := helloToken(t, s.Addr(), mint(t, "alice", time.Hour, jwt.MapClaims{"name": "Alice"}))
	if ok.str("userId") != "alice" || ok.str("name") != "Alice" {
		t.Fatalf("hello ok %v", ok)
	}
	c.join("general")
	// A token in the URL serves hello too.
	u := dialV2Token(t, s.Addr(), mint(t, "bob", time.Hour, nil))
	if ok := u.call(map[string]any{"type": "hello"}); ok.str("userId") != "bob" || ok.str("name") != "bob" {
		t.Fatalf("hello ok %v", ok)
	}
}

// Random bytes as tokens, in the URL and in hello: never a panic, always a
// clear refusal.
func TestAuthRandomTokens(t *testing.T) {
	s := startServer(t, withAuth(server.AuthRequired))
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 30; i++ {
		b := make([]byte, r.IntN(300))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		if i%3 == 0 {
			// Dots make it look like a JWT.
			for j := 0; j < len(b); j += 1 + r.IntN(40) {
				b[j] = '.'
			}
		}
		tok := string(b)
		if strings.TrimSpace(tok) == "" {
			continue
		}
		c := dialV2(t, s.Addr())
		c.callError(map[string]any{"type": "hello", "token": tok}, "unauthorized")
		expectClose(t, c.ws, 1008)
		if len(url.QueryEscape(tok)) < 4000 {
			expectRefusedUpgrade(t, s.Addr(), tok, false, "")
		}
	}
}

// The rooms claim and guest rooms: a join outside them is forbidden, in v1
// and v2; inside (exact or prefix) it works.
func TestAuthRooms(t *testing.T) {
	guests, err := auth.ParseRooms([]string{"lobby", "public-*"}, 128)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, withAuth(server.AuthOptional, func(c *server.Config) { c.GuestRooms = guests }))
	tok := mint(t, "alice", time.Hour, jwt.MapClaims{"rooms": []string{"general", "team-*"}})

	v1 := dialToken(t, s.Addr(), tok)
	v1.join("general", "ignored")
	v1.send(map[string]string{"type": "join", "roomId": "secret", "username": "x"})
	v1.expectError("Not allowed in room secret", "forbidden")
	v1.join("team-red", "x") // prefix; leaves general
	v2 := dialV2Token(t, s.Addr(), tok)
	v2.call(map[string]any{"type": "hello"})
	v2.join("team-blue")
	v2.callError(map[string]any{"type": "join", "roomId": "secret"}, "forbidden")
	v2.callError(map[string]any{"type": "join", "roomId": "team"}, "forbidden")

	// Guests: no token under optional.
	g1 := connect(t, s)
	g1.join("lobby", "guest")
	g1.send(map[string]string{"type": "join", "roomId": "general", "username": "guest"})
	g1.expectError("Not allowed in room general", "forbidden")
	g2 := connectV2(t, s.Addr(), "guest2")
	g2.join("public-1")
	g2.callError(map[string]any{"type": "join", "roomId": "team-red"}, "forbidden")
	if got := scrape(t, s)[`chatd_error_replies_total{code="forbidden"}`]; got != 5 {
		t.Fatalf("forbidden replies %v, want 5", got)
	}
	// Only the two connections with a token are in the expiry heap.
	if got := scrape(t, s)["chatd_token_connections"]; got != 2 {
		t.Fatalf("token connections %v, want 2", got)
	}
	// Under required there are no guests: a v1 upgrade without a token is refused (TestAuthUpgradeRefusals).
}

// A token's expiry closes a live connection (4001) within the sweep; a v2
// refresh with a new token of the same user keeps it open; a refresh for
// another user, or with a bad token, is refused and changes nothing.
func TestAuthExpiryAndRefresh(t *testing.T) {
	s := startServer(t, withAuth(server.AuthRequired, func(c *server.Config) {
		c.Loops = 1 // expiry closes run in sweep order on one loop: the witness proves the sweep passed
		c.AuthKeys.Leeway = -1
		c.TokenSweep = 20 * time.Millisecond
	}))
	exp := time.Now().Add(1500*time.Millisecond).Unix() + 1
	short := func(sub string) string { return mint(t, sub, 0, jwt.MapClaims{"exp": exp}) }

	v1 := dialToken(t, s.Addr(), short("carol"))
	v1.join("room", "carol")
	refreshed, _ := helloToken(t, s.Addr(), short("alice"))
	refreshed.join("room")
	refreshed.callError(map[string]any{"type": "refresh", "token": mint(t, "mallory", time.Hour, nil)}, "forbidden")
	refreshed.callError(map[string]any{"type": "refresh", "token": "bad"}, "unauthorized")
	refreshed.callError(map[string]any{"type": "refresh"}, "missing_field")
	refreshed.call(map[string]any{"type": "refresh", "token": mint(t, "alice", time.Hour, nil)})
	witness, _ := helloToken(t, s.Addr(), short("alice"))

	expectClose(t, v1.ws, 4001)
	expectClose(t, witness.ws, 4001)
	if time.Now().Unix() < exp {
		t.Fatalf("closed before exp")
	}
	// The refreshed connection is still open and in its room.
	if m := refreshed.expect("left"); m.str("userId") != "carol" {
		t.Fatalf("left %v", m)
	}
	refreshed.call(map[string]any{"type": "presence", "roomId": "room"})
	if got := scrape(t, s)["chatd_token_expiry_closes_total"]; got != 2 {
		t.Fatalf("expiry closes %v, want 2", got)
	}
	if got := scrape(t, s)["chatd_token_connections"]; got != 1 {
		t.Fatalf("token connections %v, want 1", got)
	}
	// A guest-less node: refresh without a token connection is forbidden.
	off := startServer(t, nil)
	c := connectV2(t, off.Addr(), "x")
	c.callError(map[string]any{"type": "refresh", "token": mint(t, "x", time.Hour, nil)}, "forbidden")
}

// With a token a client cannot choose its user id or name: v1's username,
// v2's hello name and any extra fields are ignored; other members see only
// the token's identity and the content.
func TestAuthNoImpersonation(t *testing.T) {
	s := startServer(t, withAuth(server.AuthRequired))
	obsV1 := dialToken(t, s.Addr(), mint(t, "observer", time.Hour, nil))
	obsV1.join("room", "observer")
	obsV2, _ := helloToken(t, s.Addr(), mint(t, "observer2", time.Hour, nil))
	obsV2.join("room")
	obsV1.expect("userJoined")

	alice := dialToken(t, s.Addr(), mint(t, "alice", time.Hour, jwt.MapClaims{"name": "Alice"}))
	if alice.userID != "alice" {
		t.Fatalf("userId %q", alice.userID)
	}
	alice.send(map[string]string{"type": "join", "roomId": "room", "username": "admin", "userId": "admin"})
	alice.expect("roomJoined")
	j := obsV1.expect("userJoined")
	if j.str("username") != "Alice" || j.str("userId") != "alice" {
		t.Fatalf("userJoined %v", j)
	}
	if j := obsV2.expect("joined"); j.str("name") != "Alice" || j.str("userId") != "alice" {
		t.Fatalf("joined %v", j)
	}
	alice.send(map[string]any{"type": "message", "content": "hi", "username": "admin", "userId": "admin",
		"timestamp": "1999-01-01T00:00:00.000Z", "offset": 7})
	if m := alice.expect("message"); m.str("username") != "Alice" || m.str("userId") != "alice" {
		t.Fatalf("echo %v", m)
	}
	m := obsV1.expect("message")
	assertKeys(t, m, "type", "content", "username", "userId", "timestamp")
	if m.str("username") != "Alice" || m.str("userId") != "alice" || m.str("content") != "hi" || strings.HasPrefix(m.str("timestamp"), "1999") {
		t.Fatalf("message %v", m)
	}
	m = obsV2.expect("message")
	if m.str("name") != "Alice" || m.str("userId") != "alice" {
		t.Fatalf("v2 message %v", m)
	}

	// v2: hello's name is ignored with a token; publish's extra fields too.
	bob, ok := helloToken(t, s.Addr(), mint(t, "bob", time.Hour, nil))
	if ok.str("name") != "bob" {
		t.Fatalf("hello ok %v", ok)
	}
	bob.join("room")
	obsV1.expect("userJoined")
	obsV2.expect("joined")
	bob.call(map[string]any{"type": "publish", "roomId": "room", "content": "yo", "name": "admin", "userId": "admin"})
	if m := obsV1.expect("message"); m.str("username") != "bob" || m.str("userId") != "bob" {
		t.Fatalf("message %v", m)
	}
	m = obsV2.expect("message")
	assertKeys(t, m, "type", "roomId", "offset", "epoch", "content", "userId", "name", "timestamp") // offset and epoch: the server's, from the history
	if m.str("name") != "bob" || m.str("userId") != "bob" {
		t.Fatalf("v2 message %v", m)
	}
}

// With auth off, what a client chooses and others see is the content and
// its self-declared name; the user id is the server's.
func TestAuthOffOnlyContentAndName(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.RateLimit = -1 })
	obs := connect(t, s)
	obs.join("room", "obs")
	a := connect(t, s)
	a.send(map[string]string{"type": "join", "roomId": "room", "username": "Alice", "userId": "admin"})
	a.expect("roomJoined")
	if j := obs.expect("userJoined"); j.str("userId") != a.userID {
		t.Fatalf("userJoined %v, want the server's id %s", j, a.userID)
	}
	a.send(map[string]any{"type": "message", "content": "hi", "userId": "admin", "timestamp": "x"})
	a.expect("message")
	m := obs.expect("message")
	assertKeys(t, m, "type", "content", "username", "userId", "timestamp")
	if m.str("userId") != a.userID || m.str("username") != "Alice" || m.str("timestamp") == "x" {
		t.Fatalf("message %v", m)
	}
	// A token is ignored with auth off (no verifier): hello needs its name.
	c := dialV2(t, s.Addr())
	c.callError(map[string]any{"type": "hello", "token": mint(t, "alice", time.Hour, nil)}, "missing_field")
	if ok := c.call(map[string]any{"type": "hello", "name": "n", "token": "anything"}); ok.str("userId") == "alice" {
		t.Fatalf("hello ok %v", ok)
	}
}

func assertKeys(t *testing.T, m msg, keys ...string) {
	t.Helper()
	if len(m) != len(keys) {
		t.Fatalf("fields of %v, want exactly %v", m, keys)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Fatalf("field %q missing in %v", k, m)
		}
	}
}

// Several connections of one token user are one member: one userJoined,
// counts of users, userLeft only when the last leaves; each connection gets
// a message once (the sender its echo, the user's other tab the message).
func TestAuthOneUserManyConnections(t *testing.T) {
	s := startServer(t, withAuth(server.AuthRequired))
	obs := dialToken(t, s.Addr(), mint(t, "obs", time.Hour, nil))
	obs.join("room", "obs")
	tok := mint(t, "alice", time.Hour, nil)
	a1 := dialToken(t, s.Addr(), tok)
	if m := a1.join("room", "x"); m.num("memberCount") != 2 {
		t.Fatalf("roomJoined %v", m)
	}
	obs.expect("userJoined")
	a2 := dialToken(t, s.Addr(), tok)
	if m := a2.join("room", "x"); m.num("memberCount") != 2 {
		t.Fatalf("second connection: roomJoined %v, want 2 members", m)
	}
	a3, _ := helloToken(t, s.Addr(), tok)
	if m := a3.join("room"); m.num("memberCount") != 2 {
		t.Fatalf("v2 connection: join %v, want 2 members", m)
	}
	sendChat(a1, "one")
	if m := a2.expect("message"); m.str("content") != "one" {
		t.Fatalf("other tab got %v", m)
	}
	if m := a3.expect("message"); m.str("content") != "one" {
		t.Fatalf("v2 tab got %v", m)
	}
	if m := obs.expect("message"); m.str("content") != "one" {
		t.Fatalf("observer got %v", m)
	}
	a2.send(`{"type":"leaveRoom"}`)
	a3.call(map[string]any{"type": "leave", "roomId": "room"})
	sendChat(obs, "marker") // no userLeft before it: alice is still in through a1
	if m := a1.expect("message"); m.str("content") != "marker" {
		t.Fatalf("a1 got %v", m)
	}
	a1.ws.Close()
	if m := obs.expect("userLeft"); m.str("userId") != "alice" || m.num("memberCount") != 1 {
		t.Fatalf("userLeft %v", m)
	}
}

// Keys rotate without a restart: a new JWKS file is used after the poll or
// a reload (SIGHUP).
func TestAuthJWKSRotation(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/jwks.json"
	writeJWKS := func(kid string) {
		b := jwksOf(t, kid)
		if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	writeJWKS("k1")
	s := startServer(t, func(c *server.Config) {
		c.Auth = server.AuthRequired
		c.AuthKeys = auth.Options{JWKSFile: path} // no poll: SIGHUP (ReloadKeys) only
	})
	es := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		str, err := tok.SignedString(esKey())
		if err != nil {
			t.Fatal(err)
		}
		return str
	}
	dialToken(t, s.Addr(), es("k1"))
	expectRefusedUpgrade(t, s.Addr(), es("k2"), false, auth.ReasonUnknownKey)
	writeJWKS("k2")
	if err := s.ReloadKeys(); err != nil {
		t.Fatal(err)
	}
	dialToken(t, s.Addr(), es("k2"))
	expectRefusedUpgrade(t, s.Addr(), es("k1"), false, auth.ReasonUnknownKey)
	if got := scrape(t, s)[`chatd_auth_key_reloads_total{result="ok"}`]; got != 1 {
		t.Fatalf("reloads %v", got)
	}
}

// jwksOf is a JWKS with the ES256 test key under kid.
func jwksOf(t *testing.T, kid string) []byte {
	t.Helper()
	pt, err := esKey().PublicKey.Bytes() // uncompressed: 0x04 || x || y
	if err != nil {
		t.Fatal(err)
	}
	x, y := pt[1:33], pt[33:65]
	return []byte(`{"keys":[{"kty":"EC","crv":"P-256","use":"sig","alg":"ES256","kid":"` + kid + `","x":"` + b64url(x) +
		`","y":"` + b64url(y) + `"}]}`)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
