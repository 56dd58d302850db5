package peerapi

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// BcryptCost is the cost the center and the old agent use for bearer hashes.
const BcryptCost = 10

// HashToken returns a bcrypt hash (cost 10, fresh salt) of plain, the bearer both directions
// of the protocol use. plain must be at most 72 bytes.
func HashToken(plain string) (string, error) {
	if len(plain) > 72 {
		return "", fmt.Errorf("secret plus router UUID is %d bytes; bcrypt allows at most 72", len(plain))
	}
	h, err := bcrypt.GenerateFromPassword([]byte(plain), BcryptCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// CheckToken reports whether token is a bcrypt hash of plain.
func CheckToken(token, plain string) bool {
	if token == "" || !strings.HasPrefix(token, "$2") {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(token), []byte(plain)) == nil
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header value.
func BearerToken(header string) (string, bool) {
	const p = "bearer "
	if len(header) <= len(p) || !strings.EqualFold(header[:len(p)], p) {
		return "", false
	}
	t := strings.TrimSpace(header[len(p):])
	return t, t != ""
}

// PassthroughClaims are the claims of the JWT /info issues and the center hands back as the
// session's data.passthrough.
type PassthroughClaims struct {
	ASN uint32 `json:"asn"`
	// Port is the reserved WireGuard listen port; 0 for GRE.
	Port int `json:"port,omitempty"`
	jwt.RegisteredClaims
}

// IssuePassthrough signs claims {asn, port, iat, exp} with HS256; ttl 0 means no expiry.
func IssuePassthrough(secret []byte, asn uint32, port int, now time.Time, ttl time.Duration) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("passthrough: no JWT secret configured")
	}
	c := PassthroughClaims{ASN: asn, Port: port, RegisteredClaims: jwt.RegisteredClaims{IssuedAt: jwt.NewNumericDate(now)}}
	if ttl > 0 {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

// ErrPassthroughExpired is returned (wrapped) by ParsePassthrough for a well-signed token past
// its expiry, together with its claims.
var ErrPassthroughExpired = errors.New("passthrough token expired")

// ParsePassthrough verifies an HS256 passthrough token and returns its claims. Tokens without
// exp (issued by the old agent) are accepted. A well-signed expired token returns its claims
// and an error wrapping ErrPassthroughExpired, so that a caller can still honour a port the
// session already holds.
func ParsePassthrough(secret []byte, token string, now time.Time) (*PassthroughClaims, error) {
	if len(secret) == 0 {
		return nil, errors.New("passthrough: no JWT secret configured")
	}
	var c PassthroughClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithoutClaimsValidation())
	if err != nil {
		return nil, fmt.Errorf("passthrough: %w", err)
	}
	if c.Port < 0 || c.Port > 65535 {
		return nil, fmt.Errorf("passthrough: port claim %d out of range", c.Port)
	}
	if c.ExpiresAt != nil && !now.Before(c.ExpiresAt.Time) {
		return &c, fmt.Errorf("passthrough: %w at %s", ErrPassthroughExpired, c.ExpiresAt.Time.UTC().Format(time.RFC3339))
	}
	return &c, nil
}
