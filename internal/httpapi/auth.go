package httpapi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/seckill/seckill/internal/order"
)

// Tokens mints and verifies user tokens: HS256 only, exp required, sub the
// decimal user id.
//
// Verified tokens are remembered (by their exact text, until their exp) so a
// client that sends the same token again — a buyer retrying, a crowd
// hammering a sold-out sale — costs a map lookup instead of a signature
// check and a JSON decode.
type Tokens struct {
	secret   []byte
	parser   *jwt.Parser
	now      func() time.Time
	verified *lru.Cache[string, verifiedToken]
}

type verifiedToken struct {
	user    int64
	expires time.Time
}

// NewTokens builds a Tokens over an HS256 secret.
func NewTokens(secret []byte) *Tokens {
	// Big enough for the clients retrying right now, small enough that the
	// GC does not spend its time marking tokens nobody sends again.
	cache, err := lru.New[string, verifiedToken](1 << 13)
	if err != nil {
		panic(err) // a positive constant size cannot fail
	}
	t := &Tokens{secret: secret, now: time.Now, verified: cache}
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
	if v, ok := t.verified.Get(raw); ok && t.now().Before(v.expires) {
		return v.user, nil
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
	t.verified.Add(raw, verifiedToken{user: id, expires: claims.ExpiresAt.Time})
	return id, nil
}
