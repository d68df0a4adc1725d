package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/seckill/seckill/api"
	"github.com/seckill/seckill/internal/config"
)

// specCheck is an http.RoundTripper that validates every answer the
// end-to-end suite receives against api/openapi.yaml: its status must be
// one the route documents, its headers and body must match the documented
// schema. A mismatch fails the request with an error naming the route, the
// status and what does not match, so the document cannot drift from the
// code.
type specCheck struct {
	next     http.RoundTripper
	router   routers.Router
	errorDoc *openapi3.Schema
	// validated counts the answers checked.
	validated atomic.Int64
}

func newSpecCheck(next http.RoundTripper) (*specCheck, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("load api/openapi.yaml: %w", err)
	}
	// The suite's listeners run on random ports: routes are found by
	// path and method alone.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	// The storefront page is HTML: its body is checked as a string.
	openapi3filter.RegisterBodyDecoder("text/html", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	})
	errSchema := doc.Components.Schemas["Error"]
	if errSchema == nil || errSchema.Value == nil {
		return nil, errors.New("api/openapi.yaml: no Error schema")
	}
	return &specCheck{next: next, router: router, errorDoc: errSchema.Value}, nil
}

func (s *specCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := s.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	if err := s.check(req, res, body); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w\nbody: %.300s", err, body)
	}
	s.validated.Add(1)
	return res, nil
}

// check validates one answer against the document.
func (s *specCheck) check(req *http.Request, res *http.Response, body []byte) error {
	if unrouted(res.StatusCode, body) {
		// The engine's own answer to a path or method no route serves
		// (the route parity test keeps engines and document in step).
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("%s %s answered %d with a body that is not JSON: %w", req.Method, req.URL.Path, res.StatusCode, err)
		}
		if err := s.errorDoc.VisitJSON(v, openapi3.VisitAsResponse()); err != nil {
			return fmt.Errorf("%s %s answered %d: body doesn't match schema Error: %w", req.Method, req.URL.Path, res.StatusCode, err)
		}
		return nil
	}
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s answered %d, but no operation documents it: %w", req.Method, req.URL.Path, res.StatusCode, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		return fmt.Errorf("%s %s answered %d: %w", route.Method, route.Path, res.StatusCode, err)
	}
	return nil
}

// unrouted tells the engines' answer to an unknown path (404 not_found) or
// method (405 method_not_allowed).
func unrouted(status int, body []byte) bool {
	if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		return false
	}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	return e.Error.Code == "not_found" || e.Error.Code == "method_not_allowed"
}

// TestOpenAPIServed: the admin listener serves the embedded document, and
// only with the admin token when one is set.
func TestOpenAPIServed(t *testing.T) {
	const token = "openapi-admin-token-0123456789abcdef"
	s := newSystem(t, "embedded", func(c *config.API) { c.AdminToken = token })
	url := s.admin.URL + "/admin/v1/openapi.yaml"
	r := do(t, "GET", url, token, nil)
	if r.status != http.StatusOK || !bytes.Equal(r.raw, api.OpenAPI()) {
		t.Fatalf("GET /admin/v1/openapi.yaml: %d, %d bytes; want 200 and the %d bytes of api/openapi.yaml",
			r.status, len(r.raw), len(api.OpenAPI()))
	}
	if ct := r.header.Get("Content-Type"); ct != "application/yaml" {
		t.Fatalf("Content-Type %q, want application/yaml", ct)
	}
	if r := do(t, "GET", url, "", nil); r.status != http.StatusUnauthorized || r.errorCode() != "unauthorized" {
		t.Fatalf("without the admin token: %d %s, want 401 unauthorized", r.status, r.raw)
	}
	// The public listener serves the same document to anyone.
	if r := do(t, "GET", s.public.URL+"/api/v1/openapi.yaml", "", nil); r.status != http.StatusOK || !bytes.Equal(r.raw, api.OpenAPI()) {
		t.Fatalf("GET /api/v1/openapi.yaml on the public listener: %d, %d bytes; want 200 and the document", r.status, len(r.raw))
	}
}
