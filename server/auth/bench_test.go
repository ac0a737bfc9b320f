package auth_test

import (
	"crypto"
	"testing"
	"time"

	"github.com/chatd/chatd/server/auth"
	"github.com/golang-jwt/jwt/v5"
)

// The cost of one token check (signature and claims), per algorithm: what
// a handshake with a token adds (BENCHMARKS.md).
func BenchmarkVerify(b *testing.B) {
	k := testKeys()
	c := jwt.MapClaims{"sub": "user-123456", "name": "A User", "rooms": []string{"general", "team-*"},
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	for _, tc := range []struct {
		name string
		o    auth.Options
		m    jwt.SigningMethod
		key  any
	}{
		{"HS256", auth.Options{Secret: secret}, jwt.SigningMethodHS256, secret},
		{"ES256", auth.Options{PublicKeyFile: pemFile(b, &k.ec.PublicKey)}, jwt.SigningMethodES256, k.ec},
		{"EdDSA", auth.Options{PublicKeyFile: pemFile(b, k.ed.Public().(crypto.PublicKey))}, jwt.SigningMethodEdDSA, k.ed},
		{"RS256", auth.Options{PublicKeyFile: pemFile(b, &k.rsa1.PublicKey)}, jwt.SigningMethodRS256, k.rsa1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v, err := auth.New(tc.o)
			if err != nil {
				b.Fatal(err)
			}
			tok := sign(b, tc.m, tc.key, c, "")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
