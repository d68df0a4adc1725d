// Package clientgen checks that API clients generated from api/openapi.yaml
// by ogen and oapi-codegen build and work: its test generates both into a
// temporary module and walks a purchase with each against a real api.
//
// It lives in the dev-tools module so that neither the generators nor the
// generated clients' runtime libraries enter the service's go.mod.
package clientgen

// The modules the generated clients import, one package of each. Importing
// them here keeps them, at the versions the generators expect, in this
// module's go.mod and go.sum, which the test's temporary module copies, so
// the clients build without looking anything up.
import (
	_ "github.com/go-faster/errors"
	_ "github.com/go-faster/jx"
	_ "github.com/oapi-codegen/runtime"
	_ "github.com/ogen-go/ogen/ogenerrors"
	_ "go.opentelemetry.io/otel"
	_ "go.opentelemetry.io/otel/metric"
	_ "go.opentelemetry.io/otel/trace"
)
