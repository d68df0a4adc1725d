package httpapi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/seckill/seckill/internal/order"
)

// Tokens mints and verifies user tokens: HS256 only, exp required, sub the
// decimal user id.
type Tokens struct {
	secret []byte
	parser *jwt.Parser
	now    func() time.Time
}

// NewTokens builds a Tokens over an HS256 secret.
func NewTokens(secret []byte) *Tokens {
	t := &Tokens{secret: secret, now: time.Now}
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second),
		jwt.WithTimeFunc(func() time.Time { return t.now() }),
	)
	return t
}

// Mint returns a token for userID valid for ttl.
func (t *Tokens) Mint(userID int64, ttl time.Duration) (string, error) {
	if userID <= 0 {
		return "", fmt.Errorf("%w: user_id must be positive", order.ErrInvalid)
	}
	if ttl <= 0 || ttl > 30*24*time.Hour {
		return "", fmt.Errorf("%w: ttl_seconds must be between 1 and 2592000", order.ErrInvalid)
	}
	now := t.now()
	claims := jwt.RegisteredClaims{
		Subject:   strconv.FormatInt(userID, 10),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// UserFromHeader verifies an "Authorization: Bearer <jwt>" value and returns
// the user id; every failure is order.ErrUnauthorized with a reason.
func (t *Tokens) UserFromHeader(h string) (int64, error) {
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" {
		return 0, fmt.Errorf("%w: missing bearer token", order.ErrUnauthorized)
	}
	var claims jwt.RegisteredClaims
	_, err := t.parser.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return t.secret, nil })
	if err != nil {
		reason := "invalid token"
		if errors.Is(err, jwt.ErrTokenExpired) {
			reason = "token expired"
		}
		return 0, fmt.Errorf("%w: %s", order.ErrUnauthorized, reason)
	}
	id, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: sub must be a positive decimal user id", order.ErrUnauthorized)
	}
	return id, nil
}
