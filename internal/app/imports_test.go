package app_test

import (
	"go/build"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestImportsFlowOneWay holds each package to what its doc comment says
// it may import of the project: the domain imports nothing of it, the
// adapters import the domain and small shared packages but never each
// other or their users, and only app wires them all together.
func TestImportsFlowOneWay(t *testing.T) {
	shared := []string{"metrics", "redact", "groupcommit", "throttle"}
	allowed := map[string][]string{
		"order":       {},
		"admission":   {"order"},
		"metrics":     {},
		"redact":      {},
		"groupcommit": {},
		"throttle":    {},
		"testenv":     {},
		"config":      {"redact"},
		"stock":       append([]string{"order", "admission"}, shared...),
		"store":       append([]string{"order"}, shared...),
		"mq":          append([]string{"order"}, shared...),
		"cache":       append([]string{"order"}, shared...),
		"consumer":    append([]string{"order"}, shared...),
		"httpapi":     append([]string{"order", "admission", "api"}, shared...),
	}
	_, here, _, _ := runtime.Caller(0)
	internal := filepath.Dir(filepath.Dir(here))
	const module = "github.com/seckill/seckill/"
	for pkg, ok := range allowed {
		p, err := build.Default.ImportDir(filepath.Join(internal, pkg), 0)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			rel := strings.TrimPrefix(imp, module)
			name := strings.TrimPrefix(rel, "internal/") // "api" is the OpenAPI document
			if rel == "scripts/lua" && pkg == "stock" {
				continue // the Lua scripts, embedded
			}
			if !slices.Contains(ok, name) {
				t.Errorf("internal/%s imports %s; it may import only %v of the project", pkg, rel, ok)
			}
		}
	}
}
