package mq

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestRetryConnectsAfterFailures: retry calls connect until it succeeds,
// logs every failure with its attempt number and the wait before the next,
// and waits between attempts.
func TestRetryConnectsAfterFailures(t *testing.T) {
	c := &config{minBackoff: 2 * time.Millisecond, maxBackoff: 4 * time.Millisecond}
	var logs bytes.Buffer // retry logs on this goroutine
	log := slog.New(slog.NewTextHandler(&logs, nil))
	calls := 0
	start := time.Now()
	got, ok := retry(context.Background(), c, log, "test", func(context.Context) (string, error) {
		calls++
		if calls < 4 {
			return "partial", errors.New("refused")
		}
		return "link", nil
	})
	if !ok || got != "link" || calls != 4 {
		t.Fatalf("retry = %q, %v after %d calls, want link, true after 4", got, ok, calls)
	}
	// Three waits of at least 80% of 2, 4 and 4 ms.
	if d := time.Since(start); d < 8*time.Millisecond {
		t.Fatalf("three retries took %v: no backoff between attempts", d)
	}
	out := logs.String()
	for _, want := range []string{"attempt=1", "attempt=2", "attempt=3"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "amqp reconnect failed"); n != 3 {
		t.Fatalf("%d failures logged, want 3:\n%s", n, out)
	}
}

// TestRetryStopsWhenContextEnds: retry gives up, with nothing, once ctx
// ends while it waits, and never gives up on its own before.
func TestRetryStopsWhenContextEnds(t *testing.T) {
	c := &config{minBackoff: time.Millisecond, maxBackoff: 2 * time.Millisecond}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	got, ok := retry(ctx, c, log, "test", func(context.Context) (string, error) {
		calls++
		if calls == 50 {
			cancel()
		}
		return "partial", errors.New("refused")
	})
	if ok || got != "" || calls != 50 {
		t.Fatalf("retry = %q, %v after %d calls, want nothing, false after 50", got, ok, calls)
	}
}
