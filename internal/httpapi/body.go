package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// decodeStrict reads a JSON object of at most limit bytes into dst: unknown
// fields and anything after the object are invalid. An empty body is allowed
// when allowEmpty, leaving dst untouched. Every error is order.ErrInvalid
// with a message in the API's words: the field and the form it takes,
// never a Go type.
func decodeStrict(r *http.Request, limit int64, dst any, allowEmpty bool) error {
	if r.ContentLength > limit {
		return errPayloadTooLarge
	}
	if r.ContentLength == 0 { // known empty: nothing to read (a chunked body has -1)
		return emptyBody(allowEmpty)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return order.Invalid("the body could not be read")
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
		return order.Invalidf("%s", decodeMessage(err, dst))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return order.Invalid("the body must be one JSON object with nothing after it")
	}
	return nil
}

// emptyBody is the answer to a body with nothing in it.
func emptyBody(allowed bool) error {
	if allowed {
		return nil
	}
	return order.Invalid("the body must be a JSON object")
}

// decodeMessage says what was wrong with a body encoding/json refused.
func decodeMessage(err error, dst any) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("the body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is not valid JSON: it ends before the object does"
	case errors.As(err, &typ):
		if typ.Field == "" {
			return "the body must be a JSON object"
		}
		name, _, _ := strings.Cut(typ.Field, ".")
		return name + " must be " + fieldForm(dst, name)
	}
	// encoding/json has no error type for an unknown field, only this text.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if names := fieldNames(dst); names != "" {
			return "unknown field " + name + "; the fields are " + names
		}
		return "unknown field " + name + "; the body takes no fields"
	}
	return "the body is not valid JSON"
}

// apiTime is a time in a request body: an RFC 3339 string. Its errors name
// no layout; decodeMessage adds the field's name.
type apiTime struct{ time.Time }

// timeForm is how the API writes the form of a time.
const timeForm = "a time in RFC 3339, e.g. 2026-11-28T10:00:00Z"

func (t *apiTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[apiTime]()}
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "string", Type: reflect.TypeFor[apiTime]()}
	}
	t.Time = v
	return nil
}

// fieldForm names the form the JSON field name of dst takes.
func fieldForm(dst any, name string) string {
	if f, ok := jsonField(dst, name); ok {
		return typeForm(f.Type)
	}
	return "of another type"
}

func typeForm(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[apiTime]() {
		return timeForm
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		if e := typeForm(t.Elem()); e == "an integer" {
			return "a list of integers"
		}
		return "a list"
	}
	return "an object"
}

// jsonField finds the struct field of dst whose JSON name is name.
func jsonField(dst any, name string) (reflect.StructField, bool) {
	t := reflect.TypeOf(dst)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for f := range t.Fields() {
		if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); n == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// fieldNames lists the JSON names of dst's fields, comma-separated.
func fieldNames(dst any) string {
	t := reflect.TypeOf(dst)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	var names []string
	for f := range t.Fields() {
		if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); n != "" && n != "-" {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}
