package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	dto "github.com/prometheus/client_model/go"

	"github.com/seckill/seckill/internal/metrics"
)

type codeErr int

func (c codeErr) Error() string { return fmt.Sprintf("sqlite code %d", int(c)) }
func (c codeErr) Code() int     { return int(c) }

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"mysql deadlock", &mysqldrv.MySQLError{Number: 1213}, true},
		{"mysql lock wait timeout", &mysqldrv.MySQLError{Number: 1205}, true},
		{"mysql duplicate key", &mysqldrv.MySQLError{Number: 1062}, true},
		{"mysql wrapped deadlock", fmt.Errorf("insert: %w", &mysqldrv.MySQLError{Number: 1213}), true},
		{"mysql check constraint", &mysqldrv.MySQLError{Number: 4025}, false},
		{"mysql data too long", &mysqldrv.MySQLError{Number: 1406}, false},
		{"sqlite busy", codeErr(5), true},
		{"sqlite busy snapshot", codeErr(5 | 2<<8), true},
		{"sqlite locked", codeErr(6), true},
		{"sqlite constraint", codeErr(19), false},
		{"guard moved", fmt.Errorf("raise: %w", errGuardMoved), true},
		{"other", errors.New("connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryable(tt.err); got != tt.want {
				t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestWithRetry: which failures withRetry tries again, how often, and what
// it returns for each way it ends.
func TestWithRetry(t *testing.T) {
	var (
		deadlock = fmt.Errorf("insert: %w", &mysqldrv.MySQLError{Number: 1213})
		tooLong  = &mysqldrv.MySQLError{Number: 1406}
	)
	tests := []struct {
		name      string
		maxTries  int
		results   []error // op's result at each try; the last one repeats
		wantTries int
		// wantErr: nil, the error itself (identical), or wrapped in
		// "gave up after n tries".
		wantErr    error
		wantGaveUp bool
	}{
		{"success", 5, []error{nil}, 1, nil, false},
		{"lock conflicts, then success", 5, []error{deadlock, codeErr(5), nil}, 3, nil, false},
		{"lock conflicts every time", 5, []error{deadlock}, 5, deadlock, true},
		{"one try allowed", 1, []error{deadlock}, 1, deadlock, true},
		{"not retryable", 5, []error{tooLong}, 1, tooLong, false},
		{"not retryable after a conflict", 5, []error{deadlock, tooLong}, 2, tooLong, false},
		{"not retryable at the last try", 3, []error{deadlock, deadlock, tooLong}, 3, tooLong, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.Discard()
			s := newStore(dialectSQLite, slog.New(slog.DiscardHandler), []Option{WithMetrics(m), WithMaxTries(tt.maxTries)})
			s.retryBase = time.Microsecond
			tries := 0
			err := s.withRetry(context.Background(), func() error {
				tries++
				if tries > 15 {
					return errors.New("ran 15 times: stop") // not retryable
				}
				return tt.results[min(tries, len(tt.results))-1]
			})
			if tries != tt.wantTries {
				t.Errorf("op ran %d times, want %d", tries, tt.wantTries)
			}
			switch {
			case tt.wantErr == nil:
				if err != nil {
					t.Errorf("err = %v, want nil", err)
				}
			case tt.wantGaveUp:
				if want := fmt.Sprintf("gave up after %d tries: %v", tt.wantTries, tt.wantErr); err == nil || err.Error() != want || !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %q wrapping the last error", err, want)
				}
			default:
				if err != tt.wantErr { //nolint:errorlint // returned as it is, not wrapped
					t.Errorf("err = %#v, want the op's own error %#v", err, tt.wantErr)
				}
			}
			if got, want := counter(t, m.WorkerRetries), float64(tt.wantTries-1); got != want {
				t.Errorf("retries counted = %v, want %v", got, want)
			}
		})
	}
}

// TestWithRetryAbandoned: a context that ends while withRetry waits for
// the next try stops it there, with both the context's and the last error.
func TestWithRetryAbandoned(t *testing.T) {
	s := newStore(dialectSQLite, slog.New(slog.DiscardHandler), nil)
	s.retryBase = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conflict := errGuardMoved
	tries := 0
	err := s.withRetry(ctx, func() error {
		tries++
		time.AfterFunc(10*time.Millisecond, cancel)
		return conflict
	})
	if tries != 1 {
		t.Errorf("op ran %d times, want 1", tries)
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, conflict) {
		t.Errorf("err = %v, want one wrapping context.Canceled and the last error", err)
	}
}

// TestLockBackOff: the n-th wait (from 0) lies between 0.5 and 1.5 times
// retryBase × 2^n, and the waits span that whole range.
func TestLockBackOff(t *testing.T) {
	const base = 20 * time.Millisecond
	s := newStore(dialectSQLite, slog.New(slog.DiscardHandler), nil)
	s.retryBase = base
	const waits = 8
	var lowest, highest [waits]float64 // wait ÷ its step
	for i := range waits {
		lowest[i] = 2
	}
	for range 2000 {
		b := s.lockBackOff()
		b.Reset()
		for i := range waits {
			step := base << i
			d := b.NextBackOff()
			if d < step/2 || d > step*3/2+1 {
				t.Fatalf("wait %d = %v, want between %v and %v", i, d, step/2, step*3/2)
			}
			r := float64(d) / float64(step)
			lowest[i], highest[i] = min(lowest[i], r), max(highest[i], r)
		}
	}
	for i := range waits {
		if lowest[i] > 0.55 || highest[i] < 1.45 {
			t.Errorf("wait %d spans %.2f to %.2f of its step over 2000 draws, want about 0.5 to 1.5", i, lowest[i], highest[i])
		}
	}
}

func counter(tb testing.TB, c interface{ Write(*dto.Metric) error }) float64 {
	tb.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestChunk(t *testing.T) {
	tests := []struct {
		n, size int
		want    []int
	}{
		{0, 3, nil},
		{3, 3, []int{3}},
		{7, 3, []int{3, 3, 1}},
	}
	for _, tt := range tests {
		var got []int
		for _, c := range chunk(make([]int, tt.n), tt.size) {
			got = append(got, len(c))
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("chunk(%d, %d) sizes = %v, want %v", tt.n, tt.size, got, tt.want)
		}
	}
}
