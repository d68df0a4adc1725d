package httpapi

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzUserFromHeader is a differential test of the fast path: for any
// Authorization header, UserFromHeader (fast path, then golang-jwt) must
// reach golang-jwt's verdict alone — the same user or a refusal — and what
// the fast path accepts golang-jwt must accept for the same user.
//
// Each input is checked twice: the header as given, and a token correctly
// signed with the secret over the given protected header and claims, so
// that the fuzzer explores the claims the fast path reads by hand, which a
// random signature would never reach.
//
//	go test -run '^$' -fuzz FuzzUserFromHeader -fuzztime 60s ./internal/httpapi/
func FuzzUserFromHeader(f *testing.F) {
	tok := NewTokens(testSecret)
	now := time.Unix(1_800_000_000, 250_000_000)
	tok.now = func() time.Time { return now }
	sec := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }

	minted, err := tok.Mint(42, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(minted, ".")
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		f.Fatal(err)
	}
	mintedHeader := `{"alg":"HS256","typ":"JWT"}`
	for _, seed := range []struct{ header, protected, claims string }{
		{"Bearer " + minted, mintedHeader, string(claims)},
		{"Bearer " + minted + "x", mintedHeader, `{"sub":"42","exp":` + sec(time.Hour) + `,"iat":` + sec(0) + `}`},
		{"Bearer " + parts[0] + "." + parts[1] + ".", mintedHeader, `{"sub":"42","exp":` + sec(-time.Hour) + `,"iat":1}`},
		{"bearer " + minted, mintedHeader, `{"sub":"42","exp":` + sec(-3*time.Second) + `,"iat":1}`},
		{"Bearer  " + minted, mintedHeader, `{"sub":"42","exp":` + sec(time.Hour) + `,"nbf":` + sec(time.Hour) + `}`},
		{"Bearer " + strings.Replace(minted, ".", "..", 1), mintedHeader, `{"sub":"42","exp":` + sec(time.Hour) + `,"nbf":` + sec(2*time.Second) + `}`},
		{"", mintedHeader, `{"sub":"42","exp":` + sec(time.Hour) + `.999,"iat":1}`},
		{"Bearer ", mintedHeader, `{"sub":"42","exp":"` + sec(time.Hour) + `"}`},
		{"Bearer a.b.c", mintedHeader, `{"sub":42,"exp":` + sec(time.Hour) + `}`},
		{"Bearer a.b.c", mintedHeader, `{"sub":"042","exp":` + sec(time.Hour) + `,"iat":1}`},
		{"Bearer a.b.c", mintedHeader, `{"sub":"+42","exp":` + sec(time.Hour) + `,"iat":1}`},
		{"Bearer a.b.c", mintedHeader, `{"sub":"9223372036854775808","exp":` + sec(time.Hour) + `,"iat":1}`},
		{"Bearer a.b.c", mintedHeader, `{"sub":"42","exp":1e300,"iat":1}`},
		{"Bearer a.b.c", mintedHeader, `{"sub":"42","exp":` + sec(time.Hour) + `,"exp":1}`},
		{"Bearer a.b.c", mintedHeader, `{"sub":"42","sub":"43","exp":` + sec(time.Hour) + `}`},
		{"Bearer a.b.c", mintedHeader, `{"Sub":"42","EXP":` + sec(time.Hour) + `}`},
		{"Bearer a.b.c", mintedHeader, `{"sub":"42","exp":` + sec(time.Hour) + `,"aud":5}`},
		{"Bearer a.b.c", mintedHeader, `{"sub":"4\u0032","exp":` + sec(time.Hour) + `}`},
		{"Bearer a.b.c", mintedHeader, `{"sub":"42","exp":` + sec(time.Hour) + `,"nbf":null}`},
		{"Bearer a.b.c", mintedHeader, `{"sub":"42","exp":` + sec(time.Hour) + `} `},
		{"Bearer a.b.c", `{"typ":"JWT","alg":"HS256"}`, string(claims)},
		{"Bearer a.b.c", `{"alg":"none"}`, string(claims)},
		{"Bearer a.b.c", `{"alg":"HS256","typ":"JWT","crit":["x"]}`, string(claims)},
	} {
		f.Add(seed.header, seed.protected, seed.claims)
	}

	f.Fuzz(func(t *testing.T, header, protected, claims string) {
		signed := base64.RawURLEncoding.EncodeToString([]byte(protected)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
		sig, err := jwt.SigningMethodHS256.Sign(signed, testSecret)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{header, "Bearer " + signed + "." + base64.RawURLEncoding.EncodeToString(sig)} {
			got, err := tok.UserFromHeader(h)
			want, wantOK := 0, false
			if raw, ok := strings.CutPrefix(h, "Bearer "); ok && raw != "" {
				id, ok := libraryUser(tok, raw)
				want, wantOK = int(id), ok
			}
			if (err == nil) != wantOK || int(got) != want {
				t.Fatalf("header %q: UserFromHeader = %d, %v; golang-jwt alone: %d, %v", h, got, err, want, wantOK)
			}
			if raw, ok := strings.CutPrefix(h, "Bearer "); ok {
				if id, fast := tok.fastVerify(raw); fast && (!wantOK || int(id) != want) {
					t.Fatalf("header %q: the fast path accepts user %d, golang-jwt: %d, %v", h, id, want, wantOK)
				}
			}
		}
	})
}
