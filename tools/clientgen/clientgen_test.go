package clientgen_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// adminToken is the api's SECKILL_ADMIN_TOKEN in the test, so the clients
// use the adminToken scheme as they would against a deployment.
const adminToken = "clientgen-admin-token-0123456789abcdef"

// TestGeneratedClientsBuy generates a client from api/openapi.yaml with
// each of ogen and oapi-codegen (the versions this module's go.mod pins as
// tools), builds them into a temporary module with testdata/walk, starts
// cmd/api in the embedded mode and has each client buy, follow and pay an
// order, and be refused a second one.
func TestGeneratedClientsBuy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both generated clients and the api")
	}
	root := repoRoot(t)
	spec := filepath.Join(root, "api", "openapi.yaml")
	dir := t.TempDir()

	// The temporary module is this one under another name: the same
	// requirements and sums, so it builds with what this module holds.
	mod, err := os.ReadFile(filepath.Join(root, "tools", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(mod, []byte("module clientwalk"))
	writeFile(t, filepath.Join(dir, "go.mod"), mod)
	copyFile(t, filepath.Join(root, "tools", "go.sum"), filepath.Join(dir, "go.sum"))
	copyFile(t, filepath.Join("testdata", "walk", "main.go"), filepath.Join(dir, "main.go"))

	start := time.Now()
	run(t, ".", "go", "tool", "ogen", "-package", "ogenclient", "-target", filepath.Join(dir, "ogenclient"), "-clean", spec)
	if err := os.MkdirAll(filepath.Join(dir, "oapiclient"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, ".", "go", "tool", "oapi-codegen", "-generate", "types,client", "-package", "oapiclient",
		"-o", filepath.Join(dir, "oapiclient", "client.go"), spec)
	t.Logf("generated both clients in %v", time.Since(start).Round(time.Millisecond))

	// -trimpath keeps the build cache's entries for the generated
	// packages valid from one temporary directory to the next.
	start = time.Now()
	walk := filepath.Join(dir, "walk")
	run(t, dir, "go", "build", "-trimpath", "-o", walk, ".")
	apiBin := filepath.Join(dir, "api")
	run(t, root, "go", "build", "-o", apiBin, "./cmd/api")
	t.Logf("built the clients' walk and the api in %v", time.Since(start).Round(time.Millisecond))

	public, admin := startAPI(t, apiBin, dir)
	out, err := exec.CommandContext(t.Context(), walk,
		"-public", public, "-admin", admin, "-admin-token", adminToken, "-sale", "1").CombinedOutput()
	t.Logf("walk:\n%s", out)
	if err != nil {
		t.Fatalf("a generated client did not complete the purchase: %v", err)
	}
}

// repoRoot is the repository's top directory: two up from this package.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "api", "openapi.yaml")); err != nil {
		tb.Fatalf("no api/openapi.yaml two directories up: %v", err)
	}
	return root
}

// startAPI runs cmd/api in the embedded mode (no server configured: an
// in-process stock, queue, worker and database, with sale 1 active) on
// free loopback ports, and stops it when the test ends.
func startAPI(tb testing.TB, bin, dir string) (public, admin string) {
	tb.Helper()
	publicAddr, adminAddr := freeAddr(tb), freeAddr(tb)
	cmd := exec.Command(bin)
	cmd.Dir = dir
	// Nothing of the caller's SECKILL_* settings: they could leave the
	// embedded mode.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SECKILL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TMPDIR="+dir,
		"SECKILL_HTTP_ADDR="+publicAddr, "SECKILL_ADMIN_ADDR="+adminAddr, "SECKILL_ADMIN_TOKEN="+adminToken)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start the api: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if tb.Failed() {
			tb.Logf("api log:\n%s", log.String())
		}
	})
	public, admin = "http://"+publicAddr, "http://"+adminAddr
	deadline := time.Now().Add(30 * time.Second)
	for _, url := range []string{public + "/readyz", admin + "/healthz"} {
		for !answers200(url) {
			select {
			case err := <-exited:
				tb.Fatalf("the api exited before it answered %s: %v\n%s", url, err, log.String())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				tb.Fatalf("the api did not answer %s within 30s", url)
			}
		}
	}
	return public, admin
}

func answers200(url string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// freeAddr is a loopback address no one listens on now.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

// run runs a command in dir and fails the test with its output if it fails.
func run(tb testing.TB, dir, name string, args ...string) {
	tb.Helper()
	cmd := exec.CommandContext(tb.Context(), name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("exit status %d", exit.ExitCode())
		}
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	writeFile(tb, to, b)
}
