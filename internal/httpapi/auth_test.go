package httpapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
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
	l := NewLimiter[string](1, 2, 16)
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
	slow := NewLimiter[int64](1e-12, 1, 16)
	slow.Allow(7)
	if ok, wait := slow.Allow(7); ok || wait <= 0 || retryAfter(wait) <= 0 {
		t.Fatalf("a bucket refilling once in ages: ok=%v wait=%v, want refused with a positive wait", ok, wait)
	}
	none := NewLimiter[string](0, 0, 1)
	if ok, _ := none.Allow("u"); !ok {
		t.Fatal("a disabled limiter refused")
	}
}

// libraryUser is what golang-jwt alone decides about raw.
func libraryUser(tok *Tokens, raw string) (int64, bool) {
	var claims jwt.RegisteredClaims
	if _, err := tok.parser.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return tok.secret, nil }); err != nil {
		return 0, false
	}
	id, err := parseSubject(claims.Subject)
	return id, err == nil
}

func TestFastPathTakesMintedTokens(t *testing.T) {
	tok := NewTokens(testSecret)
	s, err := tok.Mint(9, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if user, ok := tok.fastVerify(s); !ok || user != 9 {
		t.Fatalf("fastVerify(minted) = %d, %v; a minted token must not need the library", user, ok)
	}
	// MapClaims tokens signed by the library have the same header.
	m := sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "7", "exp": time.Now().Add(time.Hour).Unix()})
	if user, ok := tok.fastVerify(m); !ok || user != 7 {
		t.Fatalf("fastVerify(library-signed) = %d, %v", user, ok)
	}
}

// TestFastPathNeverAcceptsWhatTheLibraryRejects: the fast path may decline
// anything, but what it accepts the library accepts, for the same user.
func TestFastPathNeverAcceptsWhatTheLibraryRejects(t *testing.T) {
	tok := NewTokens(testSecret)
	now := time.Now()
	tok.now = func() time.Time { return now }
	hour := now.Add(time.Hour).Unix()
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	valid := sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "42", "exp": hour})
	parts := strings.Split(valid, ".")
	minted, err := tok.Mint(42, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	signWith := func(header, payload string) string {
		signed := header + "." + payload
		sig, err := jwt.SigningMethodHS256.Sign(signed, testSecret)
		if err != nil {
			t.Fatal(err)
		}
		return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	resign := func(payload string) string { return signWith(parts[0], enc(payload)) }
	tokens := map[string]string{
		"valid":             valid,
		"expired":           sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "42", "exp": now.Add(-time.Hour).Unix()}),
		"in the leeway":     sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "42", "exp": now.Add(-2 * time.Second).Unix()}),
		"nbf ahead":         sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "42", "exp": hour, "nbf": now.Add(time.Hour).Unix()}),
		"nbf past":          sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "42", "exp": hour, "nbf": now.Add(-time.Hour).Unix()}),
		"no exp":            sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "42"}),
		"no sub":            sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": hour}),
		"numeric sub":       resign(`{"sub":42,"exp":` + strconv.FormatInt(hour, 10) + `}`),
		"quoted exp":        resign(`{"sub":"42","exp":"` + strconv.FormatInt(hour, 10) + `"}`),
		"numeric aud":       resign(`{"sub":"42","exp":` + strconv.FormatInt(hour, 10) + `,"aud":5}`),
		"fractional exp":    resign(`{"sub":"42","exp":` + strconv.FormatInt(hour, 10) + `.5}`),
		"payload not JSON":  resign(`{"sub":"42",`),
		"negative sub":      resign(`{"sub":"-4","exp":` + strconv.FormatInt(hour, 10) + `}`),
		"wrong secret":      sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-some-length!!"), jwt.MapClaims{"sub": "42", "exp": hour}),
		"alg none":          sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "42", "exp": hour}),
		"HS512":             sign(t, jwt.SigningMethodHS512, testSecret, jwt.MapClaims{"sub": "42", "exp": hour}),
		"other header":      signWith(enc(`{"typ":"JWT","alg":"HS256"}`), parts[1]),
		"four segments":     valid + ".x",
		"signature missing": parts[0] + "." + parts[1] + ".",
		"padded signature":  valid + "=",
		"minted":            minted,
		"minted, expired":   resign(`{"sub":"42","exp":` + strconv.FormatInt(now.Add(-time.Hour).Unix(), 10) + `,"iat":1}`),
		"minted, sub 0":     resign(`{"sub":"0","exp":` + strconv.FormatInt(hour, 10) + `,"iat":1}`),
		"minted, sub empty": resign(`{"sub":"","exp":` + strconv.FormatInt(hour, 10) + `,"iat":1}`),
		"minted, huge sub":  resign(`{"sub":"99999999999999999999","exp":` + strconv.FormatInt(hour, 10) + `,"iat":1}`),
		"minted, huge exp":  resign(`{"sub":"42","exp":99999999999999999999,"iat":1}`),
		"minted, no iat":    resign(`{"sub":"42","exp":` + strconv.FormatInt(hour, 10) + `,"iat":}`),
		"minted, spaces":    resign(`{"sub":"42","exp": ` + strconv.FormatInt(hour, 10) + `,"iat":1}`),
	}
	// Every single-character change of the valid token.
	for i := range len(valid) {
		for _, c := range []byte{'A', 'B', '_', '-', '.'} {
			if valid[i] != c {
				tokens[fmt.Sprintf("byte %d → %c", i, c)] = valid[:i] + string(c) + valid[i+1:]
			}
		}
	}
	accepted := 0
	for name, raw := range tokens {
		fast, ok := tok.fastVerify(raw)
		if !ok {
			continue
		}
		accepted++
		lib, libOK := libraryUser(tok, raw)
		if !libOK || lib != fast {
			t.Errorf("%s: fast path accepted user %d, library says %d, %v", name, fast, lib, libOK)
		}
	}
	// The fast path must take the plainly valid ones, or this test proves nothing.
	for _, name := range []string{"valid", "nbf past", "fractional exp", "quoted exp", "minted", "minted, spaces"} {
		if _, ok := tok.fastVerify(tokens[name]); !ok {
			t.Errorf("%s: declined by the fast path", name)
		}
	}
	for _, name := range []string{"expired", "in the leeway", "nbf ahead", "no exp", "no sub", "numeric sub", "numeric aud", "negative sub", "wrong secret", "alg none", "HS512", "other header", "minted, expired", "minted, sub 0", "minted, sub empty", "minted, huge sub", "minted, no iat"} {
		if _, ok := tok.fastVerify(tokens[name]); ok {
			t.Errorf("%s: accepted by the fast path", name)
		}
	}
	// The library still decides what the fast path declines.
	if user, err := tok.UserFromHeader("Bearer " + tokens["in the leeway"]); err != nil || user != 42 {
		t.Errorf("a token inside the library's leeway: %d, %v; want 42", user, err)
	}
	if user, err := tok.UserFromHeader("Bearer " + tokens["other header"]); err != nil || user != 42 {
		t.Errorf("a valid token with its header fields in another order: %d, %v; want 42", user, err)
	}
	t.Logf("%d tokens, %d accepted by the fast path", len(tokens), accepted)
}

// bearerHeaders returns Authorization headers of users 1 to n, one each.
func bearerHeaders(tb testing.TB, tok *Tokens, n int) []string {
	tb.Helper()
	headers := make([]string, n)
	for i := range headers {
		s, err := tok.Mint(int64(i+1), time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		headers[i] = "Bearer " + s
	}
	return headers
}

// BenchmarkUserFromHeader verifies tokens of distinct users, each seen once,
// as a crowd of new buyers sends them.
func BenchmarkUserFromHeader(b *testing.B) {
	tok := NewTokens(testSecret)
	headers := bearerHeaders(b, tok, 1<<14)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := tok.UserFromHeader(headers[i%len(headers)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
