// Package api holds seckill's published HTTP contract: the OpenAPI 3
// document openapi.yaml, embedded so that the admin listener serves the very
// file the tests check the routes and responses against. It imports nothing
// of seckill.
package api

import _ "embed"

//go:embed openapi.yaml
var openapi []byte

// OpenAPI returns the OpenAPI document (YAML). The slice is shared: callers
// must not modify it.
func OpenAPI() []byte { return openapi }
