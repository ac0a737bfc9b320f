package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/chatd/chatd/server/auth"
	"github.com/golang-jwt/jwt/v5"
)

// runToken is "chatd token": it mints an HS256 test token from a secret, for
// trying -auth out. Real deployments mint tokens in their own backend.
func runToken(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chatd token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", "", "HS256 secret, at least 32 bytes (default: the env CHATD_JWT_SECRET)")
	sub := fs.String("sub", "", "user id (required)")
	name := fs.String("name", "", "display name (default: the user id)")
	rooms := fs.String("rooms", "", "comma list of room ids the user may join, a trailing * matches a prefix (default: every room)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	aud := fs.String("aud", "", "audience (for -jwt-audience)")
	iss := fs.String("iss", "", "issuer (for -jwt-issuer)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: chatd token -sub USER [-name NAME] [-rooms a,b,team-*] [-ttl 1h] [-secret S]\n\n"+
			"Prints an HS256 token for chatd -auth with -jwt-secret S.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	tok, err := mintToken(*secret, getenv("CHATD_JWT_SECRET"), *sub, *name, *rooms, *aud, *iss, *ttl, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "chatd token:", err)
		return 2
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// mintToken builds and signs the token.
func mintToken(secret, envSecret, sub, name, rooms, aud, iss string, ttl time.Duration, now time.Time) (string, error) {
	if secret == "" {
		secret = envSecret
	}
	switch {
	case len(secret) < auth.MinSecretBytes:
		return "", fmt.Errorf("the secret (-secret or CHATD_JWT_SECRET) must be at least %d bytes", auth.MinSecretBytes)
	case strings.TrimSpace(sub) == "":
		return "", errors.New("-sub is required")
	case ttl <= 0:
		return "", errors.New("-ttl must be positive")
	}
	c := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	if name != "" {
		c["name"] = name
	}
	if rooms != "" {
		list := []string{}
		for _, r := range strings.Split(rooms, ",") {
			if r = strings.TrimSpace(r); r != "" {
				list = append(list, r)
			}
		}
		c["rooms"] = list
	}
	if aud != "" {
		c["aud"] = aud
	}
	if iss != "" {
		c["iss"] = iss
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}
