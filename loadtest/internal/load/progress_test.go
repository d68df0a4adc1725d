package load_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

func TestProgressLine(t *testing.T) {
	got := load.ProgressLine(1234, 20000, 1000, 5321.4, 2345*time.Millisecond)
	want := "   1234/20000 done    1000 accepted      5321 req/s     2.3s"
	if got != want {
		t.Errorf("ProgressLine =\n%q, want\n%q", got, want)
	}
}

func TestStartProgressWritesAFinalLine(t *testing.T) {
	var c load.Counters
	for range 10 {
		c.Add(load.Accepted)
	}
	var buf bytes.Buffer
	stop := load.StartProgress(&buf, false, 10, &c, time.Now().Add(-time.Second))
	stop()
	out := buf.String()
	if !strings.HasSuffix(out, "\n") || strings.Contains(out, "\r") || !strings.Contains(out, "10/10 done") {
		t.Errorf("progress output %q", out)
	}

	buf.Reset()
	stop = load.StartProgress(&buf, true, 10, &c, time.Now())
	stop()
	if out := buf.String(); !strings.HasPrefix(out, "\r") || !strings.HasSuffix(out, "\n") {
		t.Errorf("terminal progress output %q", out)
	}
}

func TestIsTerminal(t *testing.T) {
	if load.IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if load.IsTerminal(f) {
		t.Error("a regular file is a terminal")
	}
}
