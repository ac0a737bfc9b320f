package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/chatd/chatd/server"
	"github.com/chatd/chatd/server/auth"
)

// authFlags are the authentication and server API flags. Secrets are best
// given in the environment (CHATD_JWT_SECRET, CHATD_API_KEY): a flag's value
// shows in the process list.
type authFlags struct {
	mode, secret, publicKey, jwks, audience, issuer, guestRooms string
	leeway, poll                                                time.Duration
	apiKey                                                      string
	apiOnMain                                                   bool
}

// authFlagNames is the -help group of these flags.
var authFlagNames = []string{"auth", "jwt-secret", "jwt-public-key", "jwt-jwks", "jwt-poll", "jwt-leeway", "jwt-audience",
	"jwt-issuer", "guest-rooms", "api-key", "api-on-main"}

func addAuthFlags(fs *flag.FlagSet) *authFlags {
	a := &authFlags{}
	fs.StringVar(&a.mode, "auth", server.DefaultAuth, "connection tokens: off (self-declared names), optional (a token names the user; without one, a guest limited to -guest-rooms) or required")
	fs.StringVar(&a.secret, "jwt-secret", "", "HS256 secret for tokens, at least 32 bytes (prefer the env CHATD_JWT_SECRET)")
	fs.StringVar(&a.publicKey, "jwt-public-key", "", "PEM file of public keys for RS256 (RSA), ES256 (P-256) or EdDSA (Ed25519) tokens")
	fs.StringVar(&a.jwks, "jwt-jwks", "", "JWKS file of public keys (matched by kid); re-read when it changes and on SIGHUP")
	fs.DurationVar(&a.poll, "jwt-poll", server.DefaultJWKSPoll, "check -jwt-jwks and -jwt-public-key for a change this often (0: only on SIGHUP)")
	fs.DurationVar(&a.leeway, "jwt-leeway", server.DefaultJWTLeeway, "clock skew allowed on a token's exp, nbf and iat")
	fs.StringVar(&a.audience, "jwt-audience", "", "if set, tokens must have it in aud")
	fs.StringVar(&a.issuer, "jwt-issuer", "", "if set, tokens must have it as iss")
	fs.StringVar(&a.guestRooms, "guest-rooms", server.DefaultGuestRooms, "with -auth optional, rooms a connection without a token may join: comma list, a trailing * matches a prefix (empty: none)")
	fs.StringVar(&a.apiKey, "api-key", server.DefaultAPIKey, "enable the server API (/api/ on the -admin listener) for callers sending Authorization: Bearer <key>; at least 16 bytes (prefer the env CHATD_API_KEY)")
	fs.BoolVar(&a.apiOnMain, "api-on-main", false, "serve the server API on the main port too (needs -api-key; keep it behind TLS)")
	return a
}

// apply checks the flags and sets them on cfg.
func (a *authFlags) apply(cfg *server.Config, adminAddr string) error {
	mode := server.AuthMode(a.mode)
	switch mode {
	case server.AuthOff, server.AuthOptional, server.AuthRequired:
	default:
		return fmt.Errorf("-auth %q: want off, optional or required", a.mode)
	}
	cfg.Auth = mode
	keys := a.secret != "" || a.publicKey != "" || a.jwks != ""
	switch {
	case mode != server.AuthOff && !keys:
		return fmt.Errorf("-auth %s needs a key: -jwt-secret (or CHATD_JWT_SECRET), -jwt-public-key or -jwt-jwks", mode)
	case a.secret != "" && len(a.secret) < auth.MinSecretBytes:
		return fmt.Errorf("-jwt-secret is %d bytes, want at least %d", len(a.secret), auth.MinSecretBytes)
	case a.poll < 0 || a.leeway < 0:
		return fmt.Errorf("-jwt-poll and -jwt-leeway must not be negative")
	case a.guestRooms != "" && mode != server.AuthOptional:
		return fmt.Errorf("-guest-rooms needs -auth optional")
	case a.apiKey != "" && len(a.apiKey) < server.DefaultAPIMinKeyBytes:
		return fmt.Errorf("-api-key is %d bytes, want at least %d", len(a.apiKey), server.DefaultAPIMinKeyBytes)
	case a.apiOnMain && a.apiKey == "":
		return fmt.Errorf("-api-on-main needs -api-key")
	case a.apiKey != "" && adminAddr == "" && !a.apiOnMain:
		return fmt.Errorf("-api-key needs -admin (or -api-on-main) to serve the API")
	}
	leeway := a.leeway
	if leeway == 0 {
		leeway = -1 // the Config's zero means the default; the flag's 0 means none
	}
	cfg.AuthKeys = auth.Options{Secret: []byte(a.secret), PublicKeyFile: a.publicKey, JWKSFile: a.jwks, Poll: a.poll,
		Leeway: leeway, Audience: a.audience, Issuer: a.issuer}
	if a.guestRooms != "" {
		var list []string
		for _, p := range strings.Split(a.guestRooms, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		r, err := auth.ParseRooms(list, server.DefaultMaxRoomIDBytes)
		if err != nil {
			return fmt.Errorf("-guest-rooms: %w", err)
		}
		cfg.GuestRooms = r
	}
	cfg.APIKey, cfg.APIOnMain = a.apiKey, a.apiOnMain
	return nil
}
