// Package auth verifies connection tokens: JWTs that name a user (sub), its
// display name (name) and the rooms it may join (rooms). Signatures are
// checked by github.com/golang-jwt/jwt/v5; keys come from an HS256 secret, a
// PEM file of public keys (RS256, ES256, EdDSA) and a JWKS file, the files
// re-read when they change or on Reload (SIGHUP), so keys rotate without a
// restart. The package knows nothing about connections or the chat.
package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
)

// Options configures a Verifier.
type Options struct {
	// Secret is the HS256 key (at least MinSecretBytes). Empty: no HS256.
	Secret []byte
	// PublicKeyFile is a PEM file of public keys (PKIX, PKCS#1 or
	// certificates): RSA (RS256), ECDSA P-256 (ES256), Ed25519 (EdDSA).
	PublicKeyFile string
	// JWKSFile is a JSON Web Key Set of public keys, matched by kid.
	JWKSFile string
	// Poll is how often the key files are checked for a change (size,
	// modification time, inode). Zero: no polling (Reload only).
	Poll time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// Audience, if set, must be in the token's aud.
	Audience string
	// Issuer, if set, must be the token's iss.
	Issuer string
	// MaxTokenBytes bounds a token; longer ones are refused unparsed.
	MaxTokenBytes int
	// MaxUserIDBytes, MaxNameBytes, MaxRoomIDBytes bound the claims; MaxRooms
	// bounds the entries of rooms.
	MaxUserIDBytes, MaxNameBytes, MaxRoomIDBytes, MaxRooms int
	// Now is the clock (tests). Zero: time.Now.
	Now func() time.Time
	// Logger receives reload results. Zero: slog.Default().
	Logger *slog.Logger
}

// Claims is what a valid token says about its user.
type Claims struct {
	UserID  string    // sub
	Name    string    // name; sub when the token has none
	Rooms   Rooms     // rooms; AllRooms when the token has none
	Expires time.Time // exp
}

// Reason names why a token was refused: a metric label and a log field, safe
// to show a client (it never contains token or key material).
type Reason string

// The refusal reasons.
const (
	ReasonMissing      Reason = "missing"       // no token where one is required
	ReasonTooLarge     Reason = "too_large"     // over MaxTokenBytes
	ReasonMalformed    Reason = "malformed"     // not a JWS compact token with JSON header and claims
	ReasonAlgorithm    Reason = "bad_algorithm" // alg not among the configured keys' (none, HS256 without a secret, ...)
	ReasonUnknownKey   Reason = "unknown_key"   // kid names no configured key
	ReasonSignature    Reason = "bad_signature" // the signature does not verify
	ReasonExpired      Reason = "expired"       // exp passed (beyond the leeway)
	ReasonNotYetValid  Reason = "not_yet_valid" // nbf or iat in the future (beyond the leeway)
	ReasonMissingClaim Reason = "missing_claim" // no exp (or no aud/iss where configured)
	ReasonAudience     Reason = "wrong_audience"
	ReasonIssuer       Reason = "wrong_issuer"
	ReasonClaims       Reason = "bad_claims" // sub, name or rooms out of bounds or of the wrong type
)

// Error is a refused token.
type Error struct {
	Reason Reason
	err    error // the library's or our detail, for debug logs
}

func (e *Error) Error() string {
	if e.err == nil {
		return "token refused: " + string(e.Reason)
	}
	return "token refused: " + string(e.Reason) + ": " + e.err.Error()
}

func (e *Error) Unwrap() error { return e.err }

func refuse(r Reason, err error) *Error { return &Error{Reason: r, err: err} }

// ReasonOf returns the reason of a Verify error ("" for nil).
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	if err != nil {
		return ReasonMalformed
	}
	return ""
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	o       Options
	log     *slog.Logger
	keys    atomic.Pointer[verifierState]
	mu      sync.Mutex // serializes reloads
	stamps  []fileStamp
	stop    chan struct{}
	stopped sync.Once
	reloads atomic.Int64
	failed  atomic.Int64
}

// verifierState is one load of the keys and the parser that accepts exactly
// their algorithms.
type verifierState struct {
	ks     *keySet
	parser *jwt.Parser
}

// New loads the keys and, with Poll, starts watching the key files. Close
// stops the watch.
func New(o Options) (*Verifier, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	v := &Verifier{o: o, log: o.Logger, stop: make(chan struct{})}
	v.stamps = v.stat()
	ks, err := loadKeys(&v.o, v.log)
	if err != nil {
		return nil, err
	}
	v.keys.Store(v.newState(ks))
	if o.Poll > 0 && (o.JWKSFile != "" || o.PublicKeyFile != "") {
		go v.watch()
	}
	return v, nil
}

// newState builds the parser for one key set.
func (v *Verifier) newState(ks *keySet) *verifierState {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(ks.algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.o.Leeway),
		jwt.WithTimeFunc(v.o.Now),
	}
	if v.o.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.o.Audience))
	}
	if v.o.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.o.Issuer))
	}
	return &verifierState{ks: ks, parser: jwt.NewParser(opts...)}
}

// Algorithms returns the algorithms accepted now.
func (v *Verifier) Algorithms() []string {
	return append([]string(nil), v.keys.Load().ks.algs...)
}

// Leeway is the configured clock skew allowance.
func (v *Verifier) Leeway() time.Duration { return v.o.Leeway }

// tokenClaims is the JSON of a token's claims.
type tokenClaims struct {
	jwt.RegisteredClaims
	Name  *string         `json:"name"`
	Rooms json.RawMessage `json:"rooms"`
}

// UnmarshalJSON refuses the time claims (exp, nbf, iat) in any form but a
// JSON number, as RFC 7519 writes them: the JWT library would read
// "exp":"1800000000" as a time, and a backend that writes its claims as
// strings has a bug chatd should not paper over.
func (tc *tokenClaims) UnmarshalJSON(b []byte) error {
	var times struct {
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(b, &times); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		v    json.RawMessage
	}{{"exp", times.Exp}, {"nbf", times.Nbf}, {"iat", times.Iat}} {
		if len(c.v) == 0 || string(c.v) == "null" || c.v[0] == '-' || (c.v[0] >= '0' && c.v[0] <= '9') {
			continue // absent (the parser says so if required), or a number
		}
		{
			return refuse(ReasonClaims, fmt.Errorf("%s is not a number", c.name))
		}
	}
	type plain tokenClaims // without this method
	return json.Unmarshal(b, (*plain)(tc))
}

// Verify checks a token and returns its claims, or an *Error.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if token == "" {
		return nil, refuse(ReasonMissing, nil)
	}
	if v.o.MaxTokenBytes > 0 && len(token) > v.o.MaxTokenBytes {
		return nil, refuse(ReasonTooLarge, nil)
	}
	st := v.keys.Load()
	var tc tokenClaims
	_, err := st.parser.ParseWithClaims(token, &tc, st.keyFor)
	if err != nil {
		return nil, classify(err)
	}
	return v.claims(&tc)
}

// keyFor picks the keys that may verify t: those of t's algorithm and, when
// t names a kid, of that kid. A key serves its own algorithm only.
func (st *verifierState) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	var set jwt.VerificationKeySet
	algOK := false
	for _, k := range st.ks.keys {
		if k.alg != alg {
			continue
		}
		algOK = true
		if kid == "" || k.kid == "" || k.kid == kid {
			set.Keys = append(set.Keys, k.k)
		}
	}
	switch {
	case !algOK:
		return nil, refuse(ReasonAlgorithm, fmt.Errorf("no key for alg %q", alg))
	case len(set.Keys) == 0:
		return nil, refuse(ReasonUnknownKey, fmt.Errorf("no key with kid %q", kid))
	}
	return set, nil
}

// classify turns a parser error into a refusal reason.
func classify(err error) *Error {
	var own *Error
	switch {
	case errors.As(err, &own):
		return own
	case strings.Contains(err.Error(), "signing method"):
		// alg missing, unknown to the library, or not a configured one
		// (jwt reports the last as an invalid signature).
		return refuse(ReasonAlgorithm, err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse(ReasonMalformed, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse(ReasonSignature, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(ReasonExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse(ReasonNotYetValid, err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return refuse(ReasonMissingClaim, err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse(ReasonAudience, err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return refuse(ReasonIssuer, err)
	}
	return refuse(ReasonMalformed, err)
}

// claims checks the chat claims of a verified token.
func (v *Verifier) claims(tc *tokenClaims) (*Claims, error) {
	o := &v.o
	c := &Claims{UserID: tc.Subject, Rooms: AllRooms}
	if tc.ExpiresAt != nil {
		c.Expires = tc.ExpiresAt.Time
	}
	if err := checkText("sub", c.UserID, o.MaxUserIDBytes); err != nil {
		return nil, err
	}
	c.Name = c.UserID
	if tc.Name != nil {
		if err := checkText("name", *tc.Name, o.MaxNameBytes); err != nil {
			return nil, err
		}
		c.Name = *tc.Name
	}
	if len(tc.Rooms) > 0 {
		// Present, so it must be a list: null is refused rather than read
		// as "every room" (a backend's nil list means none, not all).
		var list []string
		if string(tc.Rooms) == "null" || json.Unmarshal(tc.Rooms, &list) != nil {
			return nil, refuse(ReasonClaims, errors.New("rooms is not a list of strings"))
		}
		if o.MaxRooms > 0 && len(list) > o.MaxRooms {
			return nil, refuse(ReasonClaims, fmt.Errorf("rooms has %d entries, over %d", len(list), o.MaxRooms))
		}
		r, err := ParseRooms(list, o.MaxRoomIDBytes)
		if err != nil {
			return nil, refuse(ReasonClaims, fmt.Errorf("rooms: %w", err))
		}
		c.Rooms = r
	}
	return c, nil
}

// checkText bounds a claim: not blank, at most max bytes, no control
// characters.
func checkText(claim, s string, max int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return refuse(ReasonClaims, fmt.Errorf("%s is missing or blank", claim))
	case max > 0 && len(s) > max:
		return refuse(ReasonClaims, fmt.Errorf("%s is over %d bytes", claim, max))
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return refuse(ReasonClaims, fmt.Errorf("%s has control characters", claim))
	}
	return nil
}
