package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/auth"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// testSecret is the HS256 key of the auth tests.
var testSecret = []byte("test-secret-of-at-least-32-bytes!!")

// esKey is the ES256 key of the auth tests.
var esKey = sync.OnceValue(func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// mint signs an HS256 token for sub with extra claims, valid for ttl.
func mint(t testing.TB, sub string, ttl time.Duration, extra jwt.MapClaims) string {
	t.Helper()
	c := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(ttl).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// withAuth configures a node for tokens (HS256 testSecret), in mode.
func withAuth(mode server.AuthMode, more ...func(*server.Config)) func(*server.Config) {
	return func(c *server.Config) {
		c.Auth = mode
		c.AuthKeys = auth.Options{Secret: testSecret}
		c.RateLimit = -1
		for _, f := range more {
			f(c)
		}
	}
}

// wsURL is the upgrade URL of a node, with a token if not empty.
func wsURL(addr, token string) string {
	u := "ws://" + addr + "/ws"
	if token != "" {
		u += "?token=" + url.QueryEscape(token)
	}
	return u
}

// dialToken connects a v1 client with a URL token and reads its greeting.
func dialToken(t *testing.T, addr, token string) *client {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(addr, token), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &client{t: t, ws: ws}
	c.userID = c.expect("connected").str("userId")
	return c
}

// dialV2Token connects a v2 client with a URL token (no hello yet).
func dialV2Token(t *testing.T, addr, token string) *v2client {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"chatd.v2"}, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial(wsURL(addr, token), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &v2client{t: t, ws: ws}
}

// helloToken says hello with a token (and a name the server must ignore).
func helloToken(t *testing.T, addr, token string) (*v2client, msg) {
	t.Helper()
	c := dialV2(t, addr)
	ok := c.call(map[string]any{"type": "hello", "name": "i-am-admin", "token": token})
	c.userID = ok.str("userId")
	return c, ok
}

// expectRefusedUpgrade dials with a token (v1 or v2) and checks the 401 and
// its body: the reason (any known one if reason is ""), and no token
// material.
func expectRefusedUpgrade(t *testing.T, addr, token string, v2 bool, reason auth.Reason) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if v2 {
		d.Subprotocols = []string{"chatd.v2"}
	}
	ws, resp, err := d.Dial(wsURL(addr, token), nil)
	if err == nil {
		ws.Close()
		t.Fatalf("upgrade with token %.20q accepted, want 401 %s", token, reason)
	}
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("upgrade: %v (%v), want 401", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	got, ok := strings.CutPrefix(string(body), "unauthorized: token ")
	if !ok || (reason != "" && got != string(reason)+"\n") || len(got) > 20 {
		t.Fatalf("401 body %q, want the reason %q", body, reason)
	}
	if resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
}

// ecPEM writes the ES256 public key to a PEM file.
func ecPEM(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&esKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "es256.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// parseRooms makes a room set of patterns, for GuestRooms.
func parseRooms(patterns ...string) (auth.Rooms, error) { return auth.ParseRooms(patterns, 128) }
