package admission

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// The kinds of signed token, each with its version: a token of one kind is
// never accepted as another.
const (
	kindChallenge = "c1"
	kindQueue     = "q1"
	kindTicket    = "t1"
)

// maxTokenLen bounds what is parsed at all.
const maxTokenLen = 200

// token is what a signed token says: it binds a sale, a user and an expiry,
// plus one field of its kind (a challenge's random id, a queue token's
// position; empty for a ticket).
type token struct {
	kind       string
	sale, user int64
	field      string
	expires    time.Time // whole seconds
}

// signer signs and checks tokens with an HMAC-SHA256 key every replica
// shares, so any replica checks what another one handed out, without a
// round trip.
type signer struct {
	key []byte
}

// newSigner derives the tokens' key from secret, so they can never be
// confused with anything else secret signs (user JWTs).
func newSigner(secret []byte) signer {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("seckill admission tokens v1"))
	return signer{key: m.Sum(nil)}
}

// sign encodes t as kind.sale.user.field.expiry.mac: printable ASCII, no
// padding, nothing to escape in JSON or a header.
func (s signer) sign(t token) string {
	body := t.kind + "." + strconv.FormatInt(t.sale, 10) + "." + strconv.FormatInt(t.user, 10) + "." +
		t.field + "." + strconv.FormatInt(t.expires.Unix(), 10)
	return body + "." + s.mac(body)
}

func (s signer) mac(body string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// verify checks that raw is a token of kind this signer signed for sale
// and user, and not expired at now. Its errors wrap ErrAdmissionInvalid
// and say, in the API's words, what is wrong with the token (what names it
// for the client: "ticket", "challenge", "queue token").
func (s signer) verify(raw, kind, what string, sale, user int64, now time.Time) (token, error) {
	if raw == "" || len(raw) > maxTokenLen {
		return token{}, refused(what, "the %s is not one this service issued", what)
	}
	cut := strings.LastIndexByte(raw, '.')
	if cut < 0 || !hmac.Equal([]byte(s.mac(raw[:cut])), []byte(raw[cut+1:])) {
		return token{}, refused(what, "the %s is not one this service issued", what)
	}
	parts := strings.Split(raw[:cut], ".")
	if len(parts) != 5 || parts[0] != kind {
		return token{}, refused(what, "the %s is not one this service issued", what)
	}
	t := token{kind: parts[0], field: parts[3]}
	var exp int64
	var err1, err2, err3 error
	t.sale, err1 = strconv.ParseInt(parts[1], 10, 64)
	t.user, err2 = strconv.ParseInt(parts[2], 10, 64)
	exp, err3 = strconv.ParseInt(parts[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return token{}, refused(what, "the %s is not one this service issued", what)
	}
	t.expires = time.Unix(exp, 0)
	switch {
	case t.sale != sale:
		return token{}, refused(what, "the %s is for another sale", what)
	case t.user != user:
		return token{}, refused(what, "the %s is another user's", what)
	case !now.Before(t.expires):
		return token{}, refused(what, "the %s has expired", what)
	}
	return t, nil
}

// RefusedError is an order.ErrAdmissionInvalid that says what was refused
// and why.
type RefusedError struct {
	// Reason is what was refused: "challenge", "proof", "queue_token" or
	// "ticket".
	Reason string
	// Message says why, in the API's words.
	Message string
}

func (e *RefusedError) Error() string { return "admission refused: " + e.Message }

// Is makes errors.Is(err, order.ErrAdmissionInvalid) true.
func (e *RefusedError) Is(target error) bool { return target == order.ErrAdmissionInvalid }

// refused is a RefusedError of the token kind named by what.
func refused(what, format string, args ...any) error {
	return &RefusedError{Reason: strings.ReplaceAll(what, " ", "_"), Message: fmt.Sprintf(format, args...)}
}
