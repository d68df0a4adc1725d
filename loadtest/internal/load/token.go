package load

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenSource hands out a bearer token for a user.
type TokenSource interface {
	Token(ctx context.Context, userID int64) (string, error)
}

// Signer mints user tokens locally, as the api does: HS256 over the api's
// secret, sub the decimal user id, exp required.
type Signer struct {
	Secret []byte
	TTL    time.Duration
	Now    func() time.Time // time.Now when nil
}

// Token signs a token for userID.
func (s Signer) Token(_ context.Context, userID int64) (string, error) {
	if len(s.Secret) == 0 {
		return "", errors.New("sign token: empty secret")
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	claims := jwt.RegisteredClaims{
		Subject:   strconv.FormatInt(userID, 10),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(s.TTL)),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.Secret)
	if err != nil {
		return "", fmt.Errorf("sign token for user %d: %w", userID, err)
	}
	return tok, nil
}

// AdminTokens fetches user tokens from the api's POST /admin/v1/tokens.
type AdminTokens struct {
	Client *Client
	TTL    time.Duration
}

// Token fetches a token for userID.
func (a AdminTokens) Token(ctx context.Context, userID int64) (string, error) {
	tok, err := a.Client.MintToken(ctx, userID, a.TTL)
	if err != nil {
		return "", fmt.Errorf("token for user %d: %w", userID, err)
	}
	return tok, nil
}

// PrepareTokens gets one token for each of the users first … first+n-1,
// with up to concurrency requests at once. The first error stops it.
func PrepareTokens(ctx context.Context, src TokenSource, first int64, n, concurrency int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tokens := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(concurrency, 1), n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				tok, err := src.Token(ctx, first+int64(i))
				if err != nil {
					cancel(err)
					return
				}
				tokens[i] = tok
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return tokens, nil
}
