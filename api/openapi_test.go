package api_test

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/seckill/seckill/api"
)

// TestOpenAPIValid loads the embedded document and validates it against the
// OpenAPI 3 rules, its examples against their schemas included.
func TestOpenAPIValid(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatalf("load api/openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("api/openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	if doc.Paths.Len() == 0 {
		t.Fatal("api/openapi.yaml documents no path")
	}
	for _, name := range []string{"userJWT", "adminToken"} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("security scheme %q is missing", name)
		}
	}
}
