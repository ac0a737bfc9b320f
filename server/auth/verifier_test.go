package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatd/chatd/server/auth"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// testKeys are generated once per test binary (RSA generation is slow).
var testKeys = sync.OnceValue(func() (k struct {
	rsa1, rsa2 *rsa.PrivateKey
	ec         *ecdsa.PrivateKey
	ed         ed25519.PrivateKey
}) {
	var err error
	if k.rsa1, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

// sign makes a token with claims c, signed by method with key, and an
// optional kid.
func sign(t testing.TB, method jwt.SigningMethod, key any, c jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims returns valid claims for user, expiring in an hour.
func claims(user string) jwt.MapClaims {
	return jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}
}

// pemFile writes public keys to a PEM file.
func pemFile(t testing.TB, pubs ...crypto.PublicKey) string {
	t.Helper()
	var b []byte
	for _, p := range pubs {
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	path := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// jwks renders public keys as a JWKS, with kids k0, k1, ... unless given.
func jwks(t *testing.T, keys map[string]crypto.PublicKey) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for kid, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: kid, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newVerifier(t *testing.T, o auth.Options) *auth.Verifier {
	t.Helper()
	if o.MaxUserIDBytes == 0 {
		o.MaxUserIDBytes, o.MaxNameBytes, o.MaxRoomIDBytes, o.MaxRooms, o.MaxTokenBytes = 128, 64, 128, 256, 8192
	}
	v, err := auth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// refused checks that token is refused for reason, and that the error text
// carries no token material.
func refused(t *testing.T, v *auth.Verifier, token string, reason auth.Reason) {
	t.Helper()
	c, err := v.Verify(token)
	if err == nil {
		t.Fatalf("token accepted (%+v), want refusal %s", c, reason)
	}
	if got := auth.ReasonOf(err); got != reason {
		t.Fatalf("refused for %s (%v), want %s", got, err, reason)
	}
	if parts := strings.Split(token, "."); len(parts) == 3 && len(parts[2]) > 8 && strings.Contains(err.Error(), parts[2]) {
		t.Fatalf("error echoes the signature: %v", err)
	}
}

func TestHS256Claims(t *testing.T) {
	v := newVerifier(t, auth.Options{Secret: secret})
	c := claims("alice")
	c["name"] = "Alice A."
	c["rooms"] = []string{"general", "team-*"}
	got, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, c, ""))
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != "alice" || got.Name != "Alice A." || got.Expires.Unix() != c["exp"].(int64) {
		t.Fatalf("claims %+v", got)
	}
	for room, want := range map[string]bool{"general": true, "team-a": true, "team-": true, "generalx": false, "team": false, "x": false} {
		if got.Rooms.Allows(room) != want {
			t.Errorf("Allows(%q) = %v, want %v", room, !want, want)
		}
	}
	// No name: the name is the sub. No rooms: every room.
	got, err = v.Verify(sign(t, jwt.SigningMethodHS256, secret, claims("bob"), ""))
	if err != nil || got.Name != "bob" || !got.Rooms.All() || !got.Rooms.Allows("anything") {
		t.Fatalf("claims %+v, %v", got, err)
	}
	// An empty list: no room.
	c = claims("carol")
	c["rooms"] = []string{}
	if got, err = v.Verify(sign(t, jwt.SigningMethodHS256, secret, c, "")); err != nil || got.Rooms.Allows("general") {
		t.Fatalf("claims %+v, %v", got, err)
	}
}

func TestShortSecretRefused(t *testing.T) {
	if _, err := auth.New(auth.Options{Secret: secret[:31]}); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("31-byte secret: %v", err)
	}
	if _, err := auth.New(auth.Options{}); err == nil {
		t.Fatal("no key accepted")
	}
}

func TestRefusals(t *testing.T) {
	k := testKeys()
	now := time.Now()
	v := newVerifier(t, auth.Options{Secret: secret, Leeway: 5 * time.Second, Audience: "chat", Issuer: "https://id.example"})
	good := func() jwt.MapClaims {
		c := claims("alice")
		c["aud"], c["iss"] = "chat", "https://id.example"
		return c
	}
	with := func(k string, val any) jwt.MapClaims {
		c := good()
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, secret, c, "") }
	if _, err := v.Verify(hs(good())); err != nil {
		t.Fatalf("good token refused: %v", err)
	}
	unsigned, err := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	cases := []struct {
		name   string
		token  string
		reason auth.Reason
	}{
		{"missing", "", auth.ReasonMissing},
		{"too large", strings.Repeat("a", 9000), auth.ReasonTooLarge},
		{"garbage", "not a token", auth.ReasonMalformed},
		{"two segments", "a.b", auth.ReasonMalformed},
		{"four segments", hs(good()) + ".x", auth.ReasonMalformed},
		{"bad base64", header + ".%%%.abc", auth.ReasonMalformed},
		{"claims not JSON", header + "." + base64.RawURLEncoding.EncodeToString([]byte("nope")) + ".abc", auth.ReasonMalformed},
		{"alg none", unsigned, auth.ReasonAlgorithm},
		{"alg none, fake signature", unsigned + "c2ln", auth.ReasonAlgorithm},
		{"alg unknown", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"XX99"}`)) + ".e30.abc", auth.ReasonAlgorithm},
		{"alg RS256 without an RSA key", sign(t, jwt.SigningMethodRS256, k.rsa1, good(), ""), auth.ReasonAlgorithm},
		{"alg HS512", sign(t, jwt.SigningMethodHS512, secret, good(), ""), auth.ReasonAlgorithm},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("another secret, also 32 bytes long"), good(), ""), auth.ReasonSignature},
		{"tampered claims", tamper(t, hs(good())), auth.ReasonSignature},
		{"expired", hs(with("exp", now.Add(-time.Minute).Unix())), auth.ReasonExpired},
		{"no exp", hs(with("exp", nil)), auth.ReasonMissingClaim},
		{"exp a string", hs(with("exp", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))), auth.ReasonClaims},
		{"exp a bool", hs(with("exp", true)), auth.ReasonClaims},
		{"nbf a string", hs(with("nbf", strconv.FormatInt(now.Add(-time.Minute).Unix(), 10))), auth.ReasonClaims},
		{"iat a string", hs(with("iat", strconv.FormatInt(now.Add(-time.Minute).Unix(), 10))), auth.ReasonClaims},
		{"not yet valid", hs(with("nbf", now.Add(time.Minute).Unix())), auth.ReasonNotYetValid},
		{"issued in the future", hs(with("iat", now.Add(time.Minute).Unix())), auth.ReasonNotYetValid},
		{"wrong audience", hs(with("aud", "other")), auth.ReasonAudience},
		{"no audience", hs(with("aud", nil)), auth.ReasonMissingClaim},
		{"wrong issuer", hs(with("iss", "https://evil.example")), auth.ReasonIssuer},
		{"no sub", hs(with("sub", nil)), auth.ReasonClaims},
		{"blank sub", hs(with("sub", "  ")), auth.ReasonClaims},
		{"sub too long", hs(with("sub", strings.Repeat("u", 129))), auth.ReasonClaims},
		{"sub control chars", hs(with("sub", "al\nice")), auth.ReasonClaims},
		{"sub not a string", hs(with("sub", 42)), auth.ReasonMalformed},
		{"name too long", hs(with("name", strings.Repeat("n", 65))), auth.ReasonClaims},
		{"name control chars", hs(with("name", "Al\x00ice")), auth.ReasonClaims},
		{"name not a string", hs(with("name", 7)), auth.ReasonMalformed},
		{"rooms null", hs(with("rooms", json.RawMessage("null"))), auth.ReasonClaims},
		{"rooms a string", hs(with("rooms", "general")), auth.ReasonClaims},
		{"rooms with a number", hs(with("rooms", []any{"a", 1})), auth.ReasonClaims},
		{"rooms with an empty id", hs(with("rooms", []string{""})), auth.ReasonClaims},
		{"rooms too many", hs(with("rooms", make([]string, 257))), auth.ReasonClaims},
		{"room id too long", hs(with("rooms", []string{strings.Repeat("r", 129)})), auth.ReasonClaims},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { refused(t, v, tc.token, tc.reason) })
	}
	// Within the leeway: accepted.
	for _, c := range []jwt.MapClaims{with("exp", now.Add(-2*time.Second).Unix()), with("nbf", now.Add(2*time.Second).Unix()),
		with("iat", now.Add(2*time.Second).Unix()), with("aud", []string{"x", "chat"})} {
		if _, err := v.Verify(hs(c)); err != nil {
			t.Errorf("%v refused: %v", c, err)
		}
	}
}

// tamper changes a token's claims and keeps its signature.
func tamper(t *testing.T, token string) string {
	parts := strings.Split(token, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	b = []byte(strings.Replace(string(b), `"alice"`, `"admin"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// The RS256 public key used as an HMAC secret (the classic algorithm
// confusion) must fail whether or not HS256 is configured too.
func TestPublicKeyAsHMACSecret(t *testing.T) {
	k := testKeys()
	path := pemFile(t, &k.rsa1.PublicKey)
	pemBytes, _ := os.ReadFile(path)
	der, _ := x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey)
	forged := func(key []byte) string { return sign(t, jwt.SigningMethodHS256, key, claims("admin"), "") }

	rsaOnly := newVerifier(t, auth.Options{PublicKeyFile: path})
	if got := rsaOnly.Algorithms(); len(got) != 1 || got[0] != "RS256" {
		t.Fatalf("algorithms %v", got)
	}
	if _, err := rsaOnly.Verify(sign(t, jwt.SigningMethodRS256, k.rsa1, claims("alice"), "")); err != nil {
		t.Fatalf("RS256 token refused: %v", err)
	}
	for _, key := range [][]byte{pemBytes, der} {
		refused(t, rsaOnly, forged(key), auth.ReasonAlgorithm)
	}
	both := newVerifier(t, auth.Options{PublicKeyFile: path, Secret: secret})
	for _, key := range [][]byte{pemBytes, der} {
		refused(t, both, forged(key), auth.ReasonSignature)
	}
	// An RS256 token signed by another RSA key.
	refused(t, both, sign(t, jwt.SigningMethodRS256, k.rsa2, claims("alice"), ""), auth.ReasonSignature)
	// An ES256 token against RSA keys.
	refused(t, both, sign(t, jwt.SigningMethodES256, k.ec, claims("alice"), ""), auth.ReasonAlgorithm)
}

func TestPEMKeyTypes(t *testing.T) {
	k := testKeys()
	v := newVerifier(t, auth.Options{PublicKeyFile: pemFile(t, &k.rsa1.PublicKey, &k.ec.PublicKey, k.ed.Public())})
	for _, tc := range []struct {
		m   jwt.SigningMethod
		key any
	}{{jwt.SigningMethodRS256, k.rsa1}, {jwt.SigningMethodES256, k.ec}, {jwt.SigningMethodEdDSA, k.ed}} {
		if _, err := v.Verify(sign(t, tc.m, tc.key, claims("alice"), "")); err != nil {
			t.Errorf("%s refused: %v", tc.m.Alg(), err)
		}
	}
	// RS384 with the same RSA key: not an accepted algorithm.
	refused(t, v, sign(t, jwt.SigningMethodRS384, k.rsa1, claims("alice"), ""), auth.ReasonAlgorithm)
	refused(t, v, sign(t, jwt.SigningMethodPS256, k.rsa1, claims("alice"), ""), auth.ReasonAlgorithm)

	// A private key in the PEM file is refused at start.
	der, _ := x509.MarshalPKCS8PrivateKey(k.ec)
	path := filepath.Join(t.TempDir(), "priv.pem")
	_ = os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	if _, err := auth.New(auth.Options{PublicKeyFile: path}); err == nil || !strings.Contains(err.Error(), "public key") {
		t.Fatalf("private key file: %v", err)
	}
	// A P-384 key: not ES256.
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := auth.New(auth.Options{PublicKeyFile: pemFile(t, &p384.PublicKey)}); err == nil {
		t.Fatal("P-384 key accepted")
	}
}

// Keys rotate without a restart: a rewritten JWKS file is picked up by the
// poll, and on Reload.
func TestJWKSRotation(t *testing.T) {
	k := testKeys()
	path := filepath.Join(t.TempDir(), "jwks.json")
	write := func(keys map[string]crypto.PublicKey) {
		// Written beside and renamed, as deployment tools do.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, jwks(t, keys), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(map[string]crypto.PublicKey{"k1": &k.rsa1.PublicKey, "e1": &k.ec.PublicKey})
	v := newVerifier(t, auth.Options{JWKSFile: path, Poll: 10 * time.Millisecond})
	tok1 := sign(t, jwt.SigningMethodRS256, k.rsa1, claims("alice"), "k1")
	tok2 := sign(t, jwt.SigningMethodRS256, k.rsa2, claims("alice"), "k2")
	if _, err := v.Verify(tok1); err != nil {
		t.Fatalf("k1 refused: %v", err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodES256, k.ec, claims("alice"), "e1")); err != nil {
		t.Fatalf("e1 refused: %v", err)
	}
	refused(t, v, tok2, auth.ReasonUnknownKey)
	// k1 signed with kid k1 but by another key: a bad signature.
	refused(t, v, sign(t, jwt.SigningMethodRS256, k.rsa2, claims("alice"), "k1"), auth.ReasonSignature)

	// Rotate: k2 in, k1 out. The poll picks it up.
	write(map[string]crypto.PublicKey{"k2": &k.rsa2.PublicKey})
	waitUntil(t, "k2 accepted after the rotation", func() bool { _, err := v.Verify(tok2); return err == nil })
	refused(t, v, tok1, auth.ReasonUnknownKey)

	// A broken file keeps the keys in use.
	ok0, _ := v.Reloads()
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := v.Reload(); err == nil {
		t.Fatal("broken JWKS reloaded")
	}
	if _, err := v.Verify(tok2); err != nil {
		t.Fatalf("k2 refused after a failed reload: %v", err)
	}
	// Reload (SIGHUP) without waiting for the poll.
	write(map[string]crypto.PublicKey{"k1": &k.rsa1.PublicKey})
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok1); err != nil {
		t.Fatalf("k1 refused after Reload: %v", err)
	}
	if ok, failed := v.Reloads(); ok <= ok0 || failed == 0 {
		t.Fatalf("reloads ok %d failed %d", ok, failed)
	}
}

// Keys chatd cannot use are skipped, not fatal: the others still work.
func TestJWKSSkipsUnusableKeys(t *testing.T) {
	k := testKeys()
	set := `{"keys":[
		{"kty":"oct","kid":"sym","k":"` + base64.RawURLEncoding.EncodeToString(secret) + `"},
		{"kty":"RSA","kid":"bad","n":"AQAB","e":"AQAB"},
		{"kty":"EC","kid":"enc","use":"enc","crv":"P-256","x":"` + b64(k.ec.PublicKey.X.Bytes()) + `","y":"` + b64(k.ec.PublicKey.Y.Bytes()) + `"},
		` + string(mustJWK(t, jose.JSONWebKey{Key: &k.rsa1.PublicKey, KeyID: "rs", Algorithm: "PS256"})) + `,
		` + string(mustJWK(t, jose.JSONWebKey{Key: k.ed.Public(), KeyID: "ed"})) + `
	]}`
	path := filepath.Join(t.TempDir(), "jwks.json")
	_ = os.WriteFile(path, []byte(set), 0o600)
	v := newVerifier(t, auth.Options{JWKSFile: path})
	if got := v.Algorithms(); len(got) != 1 || got[0] != "EdDSA" {
		t.Fatalf("algorithms %v, want only EdDSA", got)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodEdDSA, k.ed, claims("alice"), "ed")); err != nil {
		t.Fatal(err)
	}
	// The symmetric JWK must not become an HS256 key.
	refused(t, v, sign(t, jwt.SigningMethodHS256, secret, claims("alice"), "sym"), auth.ReasonAlgorithm)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJWK(t *testing.T, k jose.JSONWebKey) []byte {
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitUntil polls cond (a state no event announces: a file poll).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FuzzVerify: random bytes never panic and are refused with a known reason.
func FuzzVerify(f *testing.F) {
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.x")
	f.Add(strings.Repeat(".", 100))
	v, err := auth.New(auth.Options{Secret: secret, MaxTokenBytes: 8192, MaxUserIDBytes: 128, MaxNameBytes: 64, MaxRoomIDBytes: 128, MaxRooms: 8})
	if err != nil {
		f.Fatal(err)
	}
	known := map[auth.Reason]bool{auth.ReasonMissing: true, auth.ReasonTooLarge: true, auth.ReasonMalformed: true,
		auth.ReasonAlgorithm: true, auth.ReasonUnknownKey: true, auth.ReasonSignature: true, auth.ReasonExpired: true,
		auth.ReasonNotYetValid: true, auth.ReasonMissingClaim: true, auth.ReasonAudience: true, auth.ReasonIssuer: true,
		auth.ReasonClaims: true}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token)
		if err == nil {
			t.Fatalf("random token accepted: %q -> %+v", token, c)
		}
		if r := auth.ReasonOf(err); !known[r] {
			t.Fatalf("unknown reason %q for %q", r, token)
		}
	})
}
