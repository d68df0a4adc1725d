package throttle_test

import (
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/throttle"
)

func TestLogAllow(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := throttle.Log{Interval: 10 * time.Second}
	steps := []struct {
		at   time.Duration
		ok   bool
		held int
	}{
		{0, true, 0},                 // the first occurrence is written
		{time.Second, false, 0},      // inside the interval: held
		{9 * time.Second, false, 0},  // still inside
		{10 * time.Second, true, 2},  // exactly the interval later: written, two held before it
		{15 * time.Second, false, 0}, // the interval counts from the last written
		{20 * time.Second, true, 1},
		{time.Hour, true, 0}, // nothing held since
		{time.Hour + time.Nanosecond, false, 0},
	}
	for _, s := range steps {
		ok, held := l.Allow(t0.Add(s.at))
		if ok != s.ok || held != s.held {
			t.Errorf("Allow at %v = %v, %d; want %v, %d", s.at, ok, held, s.ok, s.held)
		}
	}
}

// TestLogConcurrent: of many occurrences at once exactly one is written,
// and the next written line counts all the others.
func TestLogConcurrent(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := throttle.Log{Interval: time.Minute}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written int
	)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := l.Allow(t0); ok {
				mu.Lock()
				written++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if written != 1 {
		t.Fatalf("%d of 100 simultaneous occurrences written, want 1", written)
	}
	if ok, held := l.Allow(t0.Add(time.Minute)); !ok || held != 99 {
		t.Fatalf("next line = %v, %d held; want written, 99 held", ok, held)
	}
}
