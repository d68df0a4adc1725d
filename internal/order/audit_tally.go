package order

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultAuditFlushEvery is how often an AuditTally writes what it counted.
const DefaultAuditFlushEvery = time.Second

// AuditTally is an AuditLog that counts frequent changes (CountAudit) in
// memory and writes them to the log it wraps in batches: one CountAudit per
// actor, action and minute at each flush, however many changes it stands
// for. Minting thousands of tokens costs a write a second, not one per
// token. RecordAudit goes straight through; AuditEntries writes what is
// counted first, so a listing shows every change counted before it.
//
// Run flushes at its interval and once more when it ends; Flush flushes at
// once. What a failed flush could not write is kept for the next one.
type AuditTally struct {
	log   AuditLog
	elog  *slog.Logger
	every time.Duration

	flushing sync.Mutex // one flush at a time, so counts are written in order
	mu       sync.Mutex
	pending  map[tallyKey]AuditEntry
}

// tallyKey names the entry a counted change adds to.
type tallyKey struct {
	actor, action string
	minute        time.Time
}

// AuditTallyOption configures an AuditTally.
type AuditTallyOption func(*AuditTally)

// WithAuditFlushEvery sets how often Run writes what was counted
// (DefaultAuditFlushEvery when d <= 0).
func WithAuditFlushEvery(d time.Duration) AuditTallyOption {
	return func(t *AuditTally) {
		if d > 0 {
			t.every = d
		}
	}
}

var _ AuditLog = (*AuditTally)(nil)

// NewAuditTally returns an AuditTally over l; failed flushes are logged to
// elog.
func NewAuditTally(l AuditLog, elog *slog.Logger, opts ...AuditTallyOption) *AuditTally {
	t := &AuditTally{log: l, elog: elog, every: DefaultAuditFlushEvery, pending: map[tallyKey]AuditEntry{}}
	for _, o := range opts {
		o(t)
	}
	return t
}

// RecordAudit stores e through the wrapped log.
func (t *AuditTally) RecordAudit(ctx context.Context, e AuditEntry) error {
	return t.log.RecordAudit(ctx, e)
}

// CountAudit adds e (e.Count changes, at least 1) to the entry of its
// actor, action and minute in memory; the next flush writes it. It does
// not fail.
func (t *AuditTally) CountAudit(_ context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.Count = max(e.Count, 1)
	t.mu.Lock()
	t.addLocked(e)
	t.mu.Unlock()
	return nil
}

// addLocked adds e to its entry: the first change of the entry gives its
// target, detail and address, the latest its time.
func (t *AuditTally) addLocked(e AuditEntry) {
	k := tallyKey{actor: e.Actor, action: e.Action, minute: e.At.UTC().Truncate(time.Minute)}
	if p, ok := t.pending[k]; ok {
		p.Count += e.Count
		if e.At.After(p.At) {
			p.At = e.At
		}
		e = p
	}
	t.pending[k] = e
}

// AuditEntries writes what is counted, then lists through the wrapped
// log. A failed flush is logged: the listing still answers.
func (t *AuditTally) AuditEntries(ctx context.Context, limit int) ([]AuditEntry, error) {
	if err := t.Flush(ctx); err != nil {
		t.elog.WarnContext(ctx, "audit tallies not written before a listing; they are kept for the next flush", "err", err)
	}
	return t.log.AuditEntries(ctx, limit)
}

// Flush writes every counted entry, one CountAudit each. Entries it could
// not write are kept, their counts added to what was counted meanwhile,
// and the first error is returned.
func (t *AuditTally) Flush(ctx context.Context) error {
	t.flushing.Lock()
	defer t.flushing.Unlock()
	t.mu.Lock()
	batch := t.pending
	if len(batch) == 0 {
		t.mu.Unlock()
		return nil
	}
	t.pending = make(map[tallyKey]AuditEntry, len(batch))
	t.mu.Unlock()
	var first error
	for _, e := range batch {
		if err := t.log.CountAudit(ctx, e); err != nil {
			if first == nil {
				first = err
			}
			t.mu.Lock()
			t.addLocked(e)
			t.mu.Unlock()
		}
	}
	return first
}

// flushTimeout bounds the last flush, after Run's context has ended.
const flushTimeout = 5 * time.Second

// Run flushes at the tally's interval until ctx ends, then once more. A
// failed flush is logged and retried at the next one. It returns nil.
func (t *AuditTally) Run(ctx context.Context) error {
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := t.Flush(ctx); err != nil {
				t.elog.WarnContext(ctx, "audit tallies not written; kept for the next flush", "err", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			defer cancel()
			if err := t.Flush(fctx); err != nil {
				t.elog.ErrorContext(fctx, "audit tallies lost at shutdown", "err", err)
			}
			return nil
		}
	}
}
