package order

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"
)

// AuditEntry is one change an operator made through the admin API.
type AuditEntry struct {
	At time.Time
	// Actor names the admin token the request carried ("admin" for
	// SECKILL_ADMIN_TOKEN, "anonymous" when none is configured).
	Actor  string
	Action string
	// Target is what changed, e.g. "sale 12"; empty when nothing names it.
	Target     string
	Detail     string
	RemoteAddr string
	// Count is how many changes an aggregated entry stands for (token
	// minting: one entry per actor, action and minute); 1 otherwise.
	Count int64
}

// AuditLog keeps the admin audit trail.
type AuditLog interface {
	// RecordAudit stores one entry. Errors: the store's own.
	RecordAudit(ctx context.Context, e AuditEntry) error
	// CountAudit adds e.Count changes (at least 1) to the entry of e's
	// actor and action for the minute of e.At, creating it with e's target
	// and detail when the minute has none yet. Errors: the store's own.
	CountAudit(ctx context.Context, e AuditEntry) error
	// AuditEntries lists up to limit entries, newest first. Errors: the
	// store's own.
	AuditEntries(ctx context.Context, limit int) ([]AuditEntry, error)
}

// Audit actions.
const (
	AuditSaleCreated          = "sale.created"
	AuditSaleRemoved          = "sale.removed"
	AuditSaleWarmed           = "sale.warmed"
	AuditSaleStockAdded       = "sale.stock_added"
	AuditDeadLettersReplayed  = "dead_letters.replayed"
	AuditDeadLettersDiscarded = "dead_letters.discarded"
	AuditTokensMinted         = "tokens.minted"
)

// MaxAuditEntries bounds one listing of the audit trail.
const MaxAuditEntries = 1000

// SaleTarget is the audit target that names sale id.
func SaleTarget(id int64) string { return "sale " + strconv.FormatInt(id, 10) }

// AuditNote carries an admin change's audit entry down to the store, which
// writes it in the transaction that makes the change: the entry commits
// exactly when the change does.
type AuditNote struct {
	Entry AuditEntry
	// Describe, when set, completes the entry from the sale as the
	// transaction leaves it (its id, its new total).
	Describe func(e *AuditEntry, after Sale)
	written  atomic.Bool
}

// Written reports whether a committed transaction carried the entry (or
// the request was a replay, MarkReplayed); when it did not (the change has
// no transaction of its own, or failed), the caller records the entry
// itself.
func (n *AuditNote) Written() bool { return n != nil && n.written.Load() }

// Complete is the entry as the store writes it for after.
func (n *AuditNote) Complete(after Sale) AuditEntry {
	e := n.Entry
	if n.Describe != nil {
		n.Describe(&e, after)
	}
	return e
}

// MarkWritten is called by the store once the transaction that wrote the
// entry committed.
func (n *AuditNote) MarkWritten() { n.written.Store(true) }

// MarkReplayed is called by the store for a request that repeated an
// earlier one under its request_id and changed nothing: the earlier
// request's entry stands for both, and nothing is left to record.
func (n *AuditNote) MarkReplayed() { n.written.Store(true) }

type auditNoteKey struct{}

// WithAuditNote returns ctx carrying n.
func WithAuditNote(ctx context.Context, n *AuditNote) context.Context {
	return context.WithValue(ctx, auditNoteKey{}, n)
}

// AuditNoteIn returns the note ctx carries, written or not, or nil.
func AuditNoteIn(ctx context.Context) *AuditNote {
	n, _ := ctx.Value(auditNoteKey{}).(*AuditNote)
	return n
}

// AuditNoteFrom returns the note ctx carries that has not been written
// yet, or nil.
func AuditNoteFrom(ctx context.Context) *AuditNote {
	n, _ := ctx.Value(auditNoteKey{}).(*AuditNote)
	if n == nil || n.Written() {
		return nil
	}
	return n
}
