// Package testenv is for tests only: it decides what a test does when
// something it needs from the machine is missing — a server on 127.0.0.1, a
// command on PATH. Such a test skips, or fails when SECKILL_REQUIRE_SERVICES=1
// (as CI sets it), so a run that was meant to use every server cannot pass
// by skipping.
//
// It imports only the standard library; only tests and test helper packages
// import it.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// RequireEnv names the variable that turns a missing dependency from a skip
// into a failure when it is "1".
const RequireEnv = "SECKILL_REQUIRE_SERVICES"

// Required reports whether a missing dependency fails the test rather than
// skipping it.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Need does nothing when err is nil. Otherwise the test cannot run without
// what (a phrase such as "redis at 127.0.0.1:6379", which may say how to get
// it): it is skipped, or failed when SECKILL_REQUIRE_SERVICES=1, with err as
// the reason.
func Need(tb testing.TB, what string, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if Required() {
		tb.Fatalf("%s is required (%s=1) but unavailable: %v", what, RequireEnv, err)
		return
	}
	tb.Skipf("%s is unavailable, skipping (set %s=1 to fail instead): %v", what, RequireEnv, err)
}

// Listening needs something to accept TCP connections at addr within a
// second; name says what it is ("redis", "mariadb").
func Listening(tb testing.TB, name, addr string) {
	tb.Helper()
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(tb.Context(), "tcp", addr)
	if err == nil {
		_ = c.Close()
	}
	Need(tb, name+" at "+addr, err)
}

// Command needs the command name on PATH and returns its path; hint says how
// to install it.
func Command(tb testing.TB, name, hint string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	what := name
	if hint != "" {
		what += " (" + hint + ")"
	}
	Need(tb, what, err)
	return path
}
