package httpapi

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/seckill/seckill/internal/order"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func sign(tb testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestTokens(t *testing.T) {
	tok := NewTokens(testSecret)
	valid, err := tok.Mint(42, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour).Unix()
	tests := []struct {
		name   string
		header string
		user   int64
		reason string
	}{
		{"minted", "Bearer " + valid, 42, ""},
		{"no header", "", 0, "missing bearer token"},
		{"not bearer", "Basic abc", 0, "missing bearer token"},
		{"garbage", "Bearer not.a.jwt", 0, "invalid token"},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "42", "exp": time.Now().Add(-time.Minute).Unix()}), 0, "token expired"},
		{"no exp", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "42"}), 0, "invalid token"},
		{"alg none", "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "42", "exp": future}), 0, "invalid token"},
		{"HS512", "Bearer " + sign(t, jwt.SigningMethodHS512, testSecret, jwt.MapClaims{"sub": "42", "exp": future}), 0, "invalid token"},
		{"wrong secret", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-some-length!!"), jwt.MapClaims{"sub": "42", "exp": future}), 0, "invalid token"},
		{"sub not a number", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "alice", "exp": future}), 0, "positive decimal"},
		{"sub zero", "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "0", "exp": future}), 0, "positive decimal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, err := tok.UserFromHeader(tt.header)
			if tt.reason == "" {
				if err != nil || user != tt.user {
					t.Fatalf("UserFromHeader = %d, %v; want %d", user, err, tt.user)
				}
				return
			}
			if !errors.Is(err, order.ErrUnauthorized) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("UserFromHeader err = %v, want ErrUnauthorized with %q", err, tt.reason)
			}
		})
	}
}

func TestMintRejectsBadInput(t *testing.T) {
	tok := NewTokens(testSecret)
	for _, tc := range []struct {
		user int64
		ttl  time.Duration
	}{{0, time.Hour}, {-1, time.Hour}, {1, 0}, {1, 365 * 24 * time.Hour}} {
		if _, err := tok.Mint(tc.user, tc.ttl); !errors.Is(err, order.ErrInvalid) {
			t.Errorf("Mint(%d, %v) err = %v, want ErrInvalid", tc.user, tc.ttl, err)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(1, 2, 16)
	now := time.Now()
	l.now = func() time.Time { return now }
	for i := range 2 {
		if ok, _ := l.Allow("u"); !ok {
			t.Fatalf("request %d within burst refused", i)
		}
	}
	ok, wait := l.Allow("u")
	if ok || wait <= 0 || retryAfter(wait) != 1 {
		t.Fatalf("third request: ok=%v wait=%v, want refused with ~1s", ok, wait)
	}
	if ok, _ := l.Allow("other"); !ok {
		t.Fatal("another key shares the bucket")
	}
	now = now.Add(1100 * time.Millisecond)
	if ok, _ := l.Allow("u"); !ok {
		t.Fatal("bucket did not refill")
	}
	none := NewLimiter(0, 0, 1)
	if ok, _ := none.Allow("u"); !ok {
		t.Fatal("a disabled limiter refused")
	}
}

func TestTokensRememberedUntilExpiry(t *testing.T) {
	tok := NewTokens(testSecret)
	now := time.Now()
	tok.now = func() time.Time { return now }
	s, err := tok.Mint(9, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // verified, then remembered
		if user, err := tok.UserFromHeader("Bearer " + s); err != nil || user != 9 {
			t.Fatalf("UserFromHeader = %d, %v", user, err)
		}
	}
	now = now.Add(2 * time.Minute)
	if _, err := tok.UserFromHeader("Bearer " + s); !errors.Is(err, order.ErrUnauthorized) {
		t.Fatalf("a remembered token past its exp: %v, want unauthorized", err)
	}
	// A token differing in one signature character is not the remembered one.
	now = now.Add(-2 * time.Minute)
	i := len(s) - 10
	flipped := byte('A')
	if s[i] == 'A' {
		flipped = 'B'
	}
	if _, err := tok.UserFromHeader("Bearer " + s[:i] + string(flipped) + s[i+1:]); !errors.Is(err, order.ErrUnauthorized) {
		t.Fatalf("a tampered token was accepted: %v", err)
	}
}
