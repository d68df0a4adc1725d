// Package throttle holds Log, which lets a warning that may repeat many
// times a second (a backend failing, replicas falling behind) through at
// most once per interval and counts the ones it held back, so the next
// line can say how many there were.
//
// It imports nothing of the project.
package throttle

import (
	"sync"
	"time"
)

// Log decides which of a repeated log line's occurrences are written. The
// zero value with Interval set is ready; it is safe for concurrent use.
type Log struct {
	// Interval is the least time between two lines written.
	Interval time.Duration

	mu   sync.Mutex
	last time.Time // when the last line was let through; zero before the first
	held int       // occurrences held back since last
}

// Allow reports whether the occurrence at now is written: the first one is,
// and then the first one Interval or more after the last written. held is
// how many were held back before it; it is meaningful only when ok.
func (l *Log) Allow(now time.Time) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.Interval {
		l.held++
		return false, 0
	}
	held = l.held
	l.last, l.held = now, 0
	return true, held
}
