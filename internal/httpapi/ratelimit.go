package httpapi

import (
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Limiter keeps one token bucket per key, for the most recently seen keys.
// A key pushed out of the LRU simply starts again with a full bucket, which
// errs on the lenient side for idle keys only.
//
// The buckets are those of golang.org/x/time/rate (rps tokens a second, up
// to burst), kept as two numbers under the Limiter's one lock: a purchase
// by a new user, the common case of a flash sale, costs a map insert and
// no bucket allocation (an evicted key's bucket is reused).
type Limiter[K comparable] struct {
	now   func() time.Time
	rps   float64
	burst float64

	mu    sync.Mutex
	cache *simplelru.LRU[K, *bucket]
	spare *bucket // the bucket of the key evicted last, for the next new key
}

// bucket is one key's tokens as of at.
type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a per-key limiter, or nil (no limit) when rps <= 0.
func NewLimiter[K comparable](rps float64, burst, keys int) *Limiter[K] {
	if rps <= 0 {
		return nil
	}
	l := &Limiter[K]{now: time.Now, rps: rps, burst: float64(max(burst, 1))}
	c, err := simplelru.NewLRU(keys, func(_ K, b *bucket) { l.spare = b })
	if err != nil {
		panic(err) // keys <= 0: a programming error
	}
	l.cache = c
	return l
}

// Allow takes a token for key. When none is left it returns false and how
// long until one is. The time is read under the lock, so that concurrent
// callers hand it times in the order it serves them.
func (l *Limiter[K]) Allow(key K) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.cache.Get(key)
	if !ok {
		b, l.spare = l.spare, nil
		if b == nil {
			b = new(bucket)
		}
		*b = bucket{tokens: l.burst, at: now}
		l.cache.Add(key, b)
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed.Seconds()*l.rps)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := (1 - b.tokens) / l.rps * float64(time.Second)
	if wait >= math.MaxInt64 {
		return false, time.Duration(math.MaxInt64)
	}
	return false, time.Duration(wait)
}

// retryAfter renders a wait as whole seconds for the Retry-After header.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
