package httpapi

import (
	"math"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Limiter keeps one token bucket (golang.org/x/time/rate) per key, for the
// most recently seen keys. A key pushed out of the LRU simply starts again
// with a full bucket, which errs on the lenient side for idle keys only.
// Keys are what the caller has at hand (a user id, a client address), so
// that no key is formatted per request.
type Limiter[K comparable] struct {
	now   func() time.Time
	rps   rate.Limit
	burst int
	mu    sync.Mutex // serialises get-or-create so one key never gets two buckets
	cache *lru.Cache[K, *rate.Limiter]
}

// NewLimiter returns a per-key limiter, or nil (no limit) when rps <= 0.
func NewLimiter[K comparable](rps float64, burst, keys int) *Limiter[K] {
	if rps <= 0 {
		return nil
	}
	c, err := lru.New[K, *rate.Limiter](keys)
	if err != nil {
		panic(err) // keys <= 0: a programming error
	}
	return &Limiter[K]{now: time.Now, rps: rate.Limit(rps), burst: max(burst, 1), cache: c}
}

// Allow takes a token for key. When none is left it returns false and how
// long until one is. The time is read right before the bucket is asked, so
// that concurrent callers hand it times in nearly the order it serves them.
func (l *Limiter[K]) Allow(key K) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	lim, ok := l.cache.Get(key)
	if !ok {
		l.mu.Lock()
		if lim, ok = l.cache.Get(key); !ok {
			lim = rate.NewLimiter(l.rps, l.burst)
			l.cache.Add(key, lim)
		}
		l.mu.Unlock()
	}
	now := l.now()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	d := r.DelayFrom(now)
	if d == 0 {
		return true, 0
	}
	r.CancelAt(now)
	return false, d
}

// retryAfter renders a wait as whole seconds for the Retry-After header.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
