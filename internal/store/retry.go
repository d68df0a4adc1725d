package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cenkalti/backoff/v5"
	mysqldrv "github.com/go-sql-driver/mysql"
)

// withRetry runs op until it succeeds, fails for a reason a retry cannot
// cure (that error is returned as it is), or has run maxTries times (the
// last error is returned wrapped). Between tries it waits lockBackOff's
// delays; ctx ending during a wait abandons the retry.
func (s *Store) withRetry(ctx context.Context, op func() error) error {
	var (
		tries int
		last  error
	)
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		tries++
		last = op()
		if last != nil && !retryable(last) {
			return struct{}{}, backoff.Permanent(last)
		}
		return struct{}{}, last
	},
		backoff.WithBackOff(s.lockBackOff()),
		backoff.WithMaxTries(uint(s.maxTries)),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, delay time.Duration) {
			if s.metrics != nil {
				s.metrics.WorkerRetries.Inc()
			}
			s.log.WarnContext(ctx, "transaction hit a lock conflict; retrying",
				"attempt", tries, "delay", delay, "err", err)
		}),
	)
	switch {
	case err == nil:
		return nil
	case !retryable(last):
		return last
	case tries >= s.maxTries:
		return fmt.Errorf("gave up after %d tries: %w", tries, last)
	default: // ctx ended before the next try
		return fmt.Errorf("retry abandoned: %w (last error: %w)", ctx.Err(), last)
	}
}

// lockBackOff is the wait between two tries of a transaction that hit a
// lock conflict: retryBase doubled for every try before, times a random
// factor between 0.5 and 1.5, so colliding transactions spread out. It has
// no cap of its own: maxTries bounds the longest wait, retryBase ×
// 2^(maxTries−2) × 1.5 (240ms at the defaults).
func (s *Store) lockBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     s.retryBase,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         time.Duration(math.MaxInt64),
	}
}

// MySQL and SQLite error codes that a new attempt of the same transaction
// can get past.
const (
	mysqlDupEntry        = 1062
	mysqlLockWaitTimeout = 1205
	mysqlDeadlock        = 1213
	sqliteBusy           = 5
	sqliteLocked         = 6
	sqliteConstraint     = 19
)

// retryable tells lock conflicts (and a unique-key race, which a fresh
// attempt turns into a Duplicate) from every other failure.
func retryable(err error) bool {
	if errors.Is(err, errGuardMoved) || errors.Is(err, errStatusMoved) {
		return true
	}
	var my *mysqldrv.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case mysqlDeadlock, mysqlLockWaitTimeout, mysqlDupEntry:
			return true
		}
		return false
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff { // primary code of an extended one
		case sqliteBusy, sqliteLocked:
			return true
		}
	}
	return false
}
