package chatdclient

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// tokenExpiry reads a JWT's exp claim without verifying the token (the
// server does that): the client only needs to know when to ask for the next
// one. Zero when the token is not a JWT or has no numeric exp.
func tokenExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil || *claims.Exp <= 0 {
		return time.Time{}
	}
	sec := int64(*claims.Exp)
	return time.Unix(sec, int64((*claims.Exp-float64(sec))*1e9))
}

// refreshAt is when a token obtained at got and expiring at exp should be
// replaced: before long before exp, but no earlier than three quarters into
// its life (a short token is not refreshed right away). Zero exp: never.
func refreshAt(got, exp time.Time, before time.Duration) time.Time {
	if exp.IsZero() {
		return time.Time{}
	}
	lead := min(before, exp.Sub(got)/4)
	return exp.Add(-max(lead, 0))
}
