package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"

	jose "github.com/go-jose/go-jose/v4"
)

// The algorithms chatd accepts, each tied to one kind of key: a key is only
// ever used with its own algorithm, so a public key can never serve as an
// HMAC secret (the RS256-key-as-HS256-secret attack) and "none" has no key.
const (
	AlgHS256 = "HS256"
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

// MinSecretBytes is the shortest HS256 secret accepted: RFC 7518 §3.2 wants
// a key at least as long as the hash (256 bits).
const MinSecretBytes = 32

// minRSABits is the smallest RSA modulus accepted.
const minRSABits = 2048

// key is one verification key and the one algorithm it verifies.
type key struct {
	alg string
	kid string // from a JWKS; "" for the secret and PEM keys
	k   any    // []byte (HS256 only), *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey
}

// keySet is every key of one load of the configuration.
type keySet struct {
	keys []key
	algs []string // the distinct algorithms of keys: the only ones accepted
}

func (ks *keySet) add(k key) {
	ks.keys = append(ks.keys, k)
	for _, a := range ks.algs {
		if a == k.alg {
			return
		}
	}
	ks.algs = append(ks.algs, k.alg)
}

// loadKeys reads the secret, the PEM file and the JWKS file of o. A JWKS key
// chatd cannot use is skipped with a warning (one bad key must not lock
// every user out at a rotation); a bad PEM file or an unreadable JWKS file is
// an error.
func loadKeys(o *Options, log *slog.Logger) (*keySet, error) {
	ks := &keySet{}
	if len(o.Secret) > 0 {
		if len(o.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("auth: HS256 secret is %d bytes, want at least %d", len(o.Secret), MinSecretBytes)
		}
		ks.add(key{alg: AlgHS256, k: append([]byte(nil), o.Secret...)})
	}
	if o.PublicKeyFile != "" {
		if err := loadPEM(ks, o.PublicKeyFile); err != nil {
			return nil, err
		}
	}
	if o.JWKSFile != "" {
		if err := loadJWKS(ks, o.JWKSFile, log); err != nil {
			return nil, err
		}
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("auth: no verification key: set a secret, a public key file or a JWKS file")
	}
	return ks, nil
}

// loadPEM reads every public key of a PEM file.
func loadPEM(ks *keySet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("auth: read public key: %w", err)
	}
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		var pub any
		switch blk.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(blk.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			return fmt.Errorf("auth: %s: PEM block %q is not a public key (give chatd the public key only)", path, blk.Type)
		}
		if err != nil {
			return fmt.Errorf("auth: %s: parse %s: %w", path, blk.Type, err)
		}
		alg, err := algOf(pub)
		if err != nil {
			return fmt.Errorf("auth: %s: %w", path, err)
		}
		ks.add(key{alg: alg, k: pub})
		n++
	}
	if n == 0 {
		return fmt.Errorf("auth: %s: no PEM public key found", path)
	}
	return nil
}

// algOf names the one algorithm a public key verifies.
func algOf(pub any) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return AlgRS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA key on %s, want P-256 (ES256)", k.Curve.Params().Name)
		}
		return AlgES256, nil
	case ed25519.PublicKey:
		return AlgEdDSA, nil
	}
	return "", fmt.Errorf("unsupported public key type %T (want RSA, ECDSA P-256 or Ed25519)", pub)
}

// loadJWKS reads a JSON Web Key Set: public RSA, P-256 and Ed25519 keys for
// signatures. Keys are decoded by go-jose, one by one.
func loadJWKS(ks *keySet, path string, log *slog.Logger) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("auth: read JWKS: %w", err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return fmt.Errorf("auth: %s: not a JWKS: %w", path, err)
	}
	for i, raw := range set.Keys {
		var jwk jose.JSONWebKey
		err := jwk.UnmarshalJSON(raw)
		var alg string
		switch {
		case err != nil:
		case !jwk.Valid():
			err = errors.New("invalid key")
		case !jwk.IsPublic():
			err = errors.New("not a public key (symmetric and private keys do not belong in a JWKS)")
		case jwk.Use != "" && jwk.Use != "sig":
			err = fmt.Errorf("use %q, not sig", jwk.Use)
		default:
			alg, err = algOf(jwk.Key)
			if err == nil && jwk.Algorithm != "" && jwk.Algorithm != alg {
				err = fmt.Errorf("alg %q: chatd verifies this key type with %s only", jwk.Algorithm, alg)
			}
		}
		if err != nil {
			log.Warn("JWKS key skipped", "file", path, "index", i, "kid", jwk.KeyID, "err", err)
			continue
		}
		ks.add(key{alg: alg, kid: jwk.KeyID, k: jwk.Key})
	}
	return nil
}
