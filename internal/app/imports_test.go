package app_test

import (
	"errors"
	"go/build"
	"io/fs"
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
		"redisurl":    {"redact"},
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

// TestLoadToolsLeaveAppAlone: no package under loadtest/ imports the
// service's wiring (internal/app); the load tools drive the service from
// outside and share only small packages with it (redisurl, redact, mq's
// topology). Their tests may still start the service in-process.
func TestLoadToolsLeaveAppAlone(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(filepath.Dir(here)))
	const app = "github.com/seckill/seckill/internal/app"
	seen := 0
	err := filepath.WalkDir(filepath.Join(root, "loadtest"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") {
			return filepath.SkipDir
		}
		p, err := build.Default.ImportDir(path, 0)
		if err != nil {
			var none *build.NoGoError
			if errors.As(err, &none) {
				return nil
			}
			return err
		}
		seen++
		if slices.Contains(p.Imports, app) {
			rel, _ := filepath.Rel(root, path)
			t.Errorf("%s imports %s; the load tools may not import the service's wiring", rel, app)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("no Go package found under loadtest/")
	}
}
