package api_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/seckill/seckill/api"
)

// TestOpenAPIExamples validates every example in the document (of a body,
// a parameter, a header or a schema) against the schema it illustrates.
//
// An object schema that does not say whether it allows properties it does
// not name is read here as closed: JSON Schema reads it as open, Redocly's
// linter and some code generators as closed, and an example must be valid
// for all of them. A schema that is a member of an allOf stays open, since
// its siblings name the rest.
func TestOpenAPIExamples(t *testing.T) {
	doc := loadDoc(t)
	w := newWalker()
	w.walkDoc(doc)
	closeUnstated(w.schemas, w.allOfMembers)
	if len(w.examples) == 0 {
		t.Fatal("api/openapi.yaml has no example")
	}
	for _, ex := range w.examples {
		opts := []openapi3.SchemaValidationOption{openapi3.MultiErrors()}
		switch ex.direction {
		case request:
			opts = append(opts, openapi3.VisitAsRequest())
		case response:
			opts = append(opts, openapi3.VisitAsResponse())
		}
		if err := ex.schema.VisitJSON(ex.value, opts...); err != nil {
			t.Errorf("%s: the example does not match its schema: %v", ex.at, err)
		}
	}
	t.Logf("%d examples checked against their schemas", len(w.examples))
}

// TestOpenAPIRequiredDefined checks that every name an object schema lists
// in required is one of its properties (its own or an allOf member's): a
// required name that no property defines is a typo that validators accept
// and code generators drop.
func TestOpenAPIRequiredDefined(t *testing.T) {
	w := newWalker()
	w.walkDoc(loadDoc(t))
	checked := 0
	for _, s := range w.schemaOrder {
		defined := definedProperties(s.schema, map[*openapi3.Schema]bool{})
		for _, name := range s.schema.Required {
			checked++
			if !defined[name] {
				t.Errorf("%s: required property %q is not defined", s.at, name)
			}
		}
	}
	if checked == 0 {
		t.Fatal("api/openapi.yaml requires no property")
	}
	t.Logf("%d required names checked", checked)
}

func loadDoc(tb testing.TB) *openapi3.T {
	tb.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		tb.Fatalf("load api/openapi.yaml: %v", err)
	}
	return doc
}

// direction tells whether a value travels in a request or a response, for
// readOnly and writeOnly.
type direction int

const (
	either direction = iota
	request
	response
)

type example struct {
	at        string // where the example is, for people
	schema    *openapi3.Schema
	value     any
	direction direction
}

type located struct {
	at     string
	schema *openapi3.Schema
}

// walker collects every schema and every example of a document, each
// once, with the place it was first met.
type walker struct {
	seen         map[*openapi3.Schema]bool
	seenOther    map[any]bool // parameters, headers, responses, bodies
	schemaOrder  []located
	schemas      []*openapi3.Schema
	allOfMembers map[*openapi3.Schema]bool
	examples     []example
}

func newWalker() *walker {
	return &walker{
		seen: map[*openapi3.Schema]bool{}, seenOther: map[any]bool{},
		allOfMembers: map[*openapi3.Schema]bool{},
	}
}

func (w *walker) walkDoc(doc *openapi3.T) {
	// Components first, so that what paths share is reported where it is
	// written.
	if c := doc.Components; c != nil {
		for _, name := range slices.Sorted(maps.Keys(c.Schemas)) {
			w.schema("components.schemas."+name, c.Schemas[name], either)
		}
		for _, name := range slices.Sorted(maps.Keys(c.Parameters)) {
			w.parameter("components.parameters", c.Parameters[name])
		}
		for _, name := range slices.Sorted(maps.Keys(c.RequestBodies)) {
			if b := c.RequestBodies[name]; b.Value != nil {
				w.content("components.requestBodies."+name, b.Value.Content, request)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(c.Responses)) {
			w.response("components.responses."+name, c.Responses[name])
		}
		for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
			if h := c.Headers[name]; h.Value != nil {
				w.header("components.headers."+name, &h.Value.Parameter)
			}
		}
	}
	for _, path := range slices.Sorted(maps.Keys(doc.Paths.Map())) {
		item := doc.Paths.Value(path)
		for _, p := range item.Parameters {
			w.parameter("paths."+path, p)
		}
		ops := item.Operations()
		for _, method := range slices.Sorted(maps.Keys(ops)) {
			op := ops[method]
			at := fmt.Sprintf("paths.%s.%s", path, strings.ToLower(method))
			for _, p := range op.Parameters {
				w.parameter(at, p)
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				w.content(at+".requestBody", op.RequestBody.Value.Content, request)
			}
			if op.Responses != nil {
				for _, code := range slices.Sorted(maps.Keys(op.Responses.Map())) {
					w.response(at+".responses."+code, op.Responses.Value(code))
				}
			}
		}
	}
}

func (w *walker) parameter(at string, p *openapi3.ParameterRef) {
	if p == nil || p.Value == nil || w.once(p.Value) {
		return
	}
	at += ".parameters." + p.Value.Name
	w.examplesOf(at, p.Value.Schema, p.Value.Example, p.Value.Examples, request)
	w.schema(at+".schema", p.Value.Schema, request)
	w.content(at, p.Value.Content, request)
}

func (w *walker) header(at string, h *openapi3.Parameter) {
	if w.once(h) {
		return
	}
	w.examplesOf(at, h.Schema, h.Example, h.Examples, response)
	w.schema(at+".schema", h.Schema, response)
	w.content(at, h.Content, response)
}

func (w *walker) response(at string, r *openapi3.ResponseRef) {
	if r == nil || r.Value == nil || w.once(r.Value) {
		return
	}
	for name, h := range r.Value.Headers {
		if h.Value != nil {
			w.header(at+".headers."+name, &h.Value.Parameter)
		}
	}
	w.content(at, r.Value.Content, response)
}

func (w *walker) content(at string, content openapi3.Content, dir direction) {
	for _, mt := range slices.Sorted(maps.Keys(content)) {
		m := content[mt]
		if m == nil || w.once(m) {
			continue
		}
		w.examplesOf(at+"."+mt, m.Schema, m.Example, m.Examples, dir)
		w.schema(at+"."+mt+".schema", m.Schema, dir)
	}
}

// once tells whether v was met before, and marks it met.
func (w *walker) once(v any) bool {
	if w.seenOther[v] {
		return true
	}
	w.seenOther[v] = true
	return false
}

// examplesOf records the example and the named examples of one body,
// parameter or header.
func (w *walker) examplesOf(at string, s *openapi3.SchemaRef, one any, named openapi3.Examples, dir direction) {
	if s == nil || s.Value == nil {
		return
	}
	if one != nil {
		w.examples = append(w.examples, example{at + ".example", s.Value, one, dir})
	}
	for _, name := range slices.Sorted(maps.Keys(named)) {
		if e := named[name]; e != nil && e.Value != nil && e.Value.Value != nil {
			w.examples = append(w.examples, example{at + ".examples." + name, s.Value, e.Value.Value, dir})
		}
	}
}

// schema records a schema, its own example and every schema inside it.
func (w *walker) schema(at string, ref *openapi3.SchemaRef, dir direction) {
	if ref == nil || ref.Value == nil || w.seen[ref.Value] {
		return
	}
	s := ref.Value
	w.seen[s] = true
	w.schemas = append(w.schemas, s)
	w.schemaOrder = append(w.schemaOrder, located{at, s})
	if s.Example != nil {
		w.examples = append(w.examples, example{at + ".example", s, s.Example, dir})
	}
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		w.schema(at+".properties."+name, s.Properties[name], dir)
	}
	w.schema(at+".items", s.Items, dir)
	w.schema(at+".additionalProperties", s.AdditionalProperties.Schema, dir)
	w.schema(at+".not", s.Not, dir)
	for i, m := range s.AllOf {
		if m != nil && m.Value != nil {
			w.allOfMembers[m.Value] = true
		}
		w.schema(fmt.Sprintf("%s.allOf[%d]", at, i), m, dir)
	}
	for i, m := range s.AnyOf {
		w.schema(fmt.Sprintf("%s.anyOf[%d]", at, i), m, dir)
	}
	for i, m := range s.OneOf {
		w.schema(fmt.Sprintf("%s.oneOf[%d]", at, i), m, dir)
	}
}

// closeUnstated makes every object schema that names properties but does
// not say whether it allows others closed, but for allOf members.
func closeUnstated(schemas []*openapi3.Schema, allOfMembers map[*openapi3.Schema]bool) {
	closed := false
	for _, s := range schemas {
		if len(s.Properties) == 0 || allOfMembers[s] {
			continue
		}
		if s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			s.AdditionalProperties.Has = &closed
		}
	}
}

// definedProperties names the properties a schema defines, its allOf
// members' included.
func definedProperties(s *openapi3.Schema, seen map[*openapi3.Schema]bool) map[string]bool {
	out := map[string]bool{}
	if s == nil || seen[s] {
		return out
	}
	seen[s] = true
	for name := range s.Properties {
		out[name] = true
	}
	for _, m := range s.AllOf {
		if m != nil {
			maps.Copy(out, definedProperties(m.Value, seen))
		}
	}
	return out
}
