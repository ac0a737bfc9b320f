package main

import (
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtSecret is the HS256 secret of the attacks that run with -auth.
var jwtSecret = strings.Repeat("abuse-secret-", 3)

var authFlags = []string{"-auth", "required", "-jwt-secret", jwtSecret}

// token mints an HS256 token for sub; extra claims override the defaults
// (exp one hour ahead).
func token(sub string, extra map[string]any) string {
	claims := jwt.MapClaims{"sub": sub, "name": sub, "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		claims[k] = v
	}
	t, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(jwtSecret))
	if err != nil {
		panic(err)
	}
	return t
}
