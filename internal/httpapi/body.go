package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/seckill/seckill/internal/order"
)

// decodeStrict reads a JSON object of at most limit bytes into dst: unknown
// fields and anything after the object are invalid. An empty body is allowed
// when allowEmpty, leaving dst untouched.
func decodeStrict(r *http.Request, limit int64, dst any, allowEmpty bool) error {
	if r.ContentLength > limit {
		return errPayloadTooLarge
	}
	if r.ContentLength == 0 { // known empty: nothing to read (a chunked body has -1)
		return emptyBody(allowEmpty)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return fmt.Errorf("%w: reading body: %w", order.ErrInvalid, err)
	}
	if int64(len(body)) > limit {
		return errPayloadTooLarge
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return emptyBody(allowEmpty)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%w: %w", order.ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: unexpected data after the JSON object", order.ErrInvalid)
	}
	return nil
}

// emptyBody is the answer to a body with nothing in it.
func emptyBody(allowed bool) error {
	if allowed {
		return nil
	}
	return fmt.Errorf("%w: a JSON body is required", order.ErrInvalid)
}
