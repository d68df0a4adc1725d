package testenv

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how Need ended the test instead of
// ending it.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func (r *recorder) Skipf(format string, args ...any) { r.skip = fmt.Sprintf(format, args...) }

func TestNeed(t *testing.T) {
	down := errors.New("connection refused")
	for _, tc := range []struct {
		name      string
		env       string
		err       error
		wantFatal bool
		wantSkip  bool
	}{
		{name: "present", env: "1", err: nil},
		{name: "present, not required", env: "", err: nil},
		{name: "missing, required", env: "1", err: down, wantFatal: true},
		{name: "missing, not required", env: "", err: down, wantSkip: true},
		{name: "missing, other value", env: "true", err: down, wantSkip: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tc.env)
			r := &recorder{TB: t}
			Need(r, "redis at 127.0.0.1:6379", tc.err)
			if got := r.fatal != ""; got != tc.wantFatal {
				t.Errorf("failed = %v (%q), want %v", got, r.fatal, tc.wantFatal)
			}
			if got := r.skip != ""; got != tc.wantSkip {
				t.Errorf("skipped = %v (%q), want %v", got, r.skip, tc.wantSkip)
			}
			for _, msg := range []string{r.fatal, r.skip} {
				if msg != "" && (!strings.Contains(msg, "redis at 127.0.0.1:6379") || !strings.Contains(msg, "connection refused")) {
					t.Errorf("message %q names neither what is missing nor why", msg)
				}
			}
		})
	}
}

func TestListening(t *testing.T) {
	t.Setenv(RequireEnv, "1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()

	r := &recorder{TB: t}
	Listening(r, "listener", addr)
	if r.fatal != "" || r.skip != "" {
		t.Fatalf("an open listener was reported missing: %q %q", r.fatal, r.skip)
	}

	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	r = &recorder{TB: t}
	Listening(r, "listener", addr)
	if r.fatal == "" {
		t.Fatalf("a closed port did not fail the test under %s=1", RequireEnv)
	}
}

func TestCommand(t *testing.T) {
	t.Setenv(RequireEnv, "1")
	r := &recorder{TB: t}
	if path := Command(r, "go", ""); path == "" || r.fatal != "" {
		t.Fatalf("go on PATH: path %q, failure %q", path, r.fatal)
	}
	r = &recorder{TB: t}
	Command(r, "seckill-no-such-command", "install it from nowhere")
	if !strings.Contains(r.fatal, "install it from nowhere") {
		t.Fatalf("a missing command's failure %q does not carry the hint", r.fatal)
	}
}
