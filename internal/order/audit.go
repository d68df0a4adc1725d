package order

import (
	"context"
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
	// CountAudit adds one to the entry of e's actor and action for the
	// minute of e.At, creating it with e's target and detail when the
	// minute has none yet. Errors: the store's own.
	CountAudit(ctx context.Context, e AuditEntry) error
	// AuditEntries lists up to limit entries, newest first. Errors: the
	// store's own.
	AuditEntries(ctx context.Context, limit int) ([]AuditEntry, error)
}

// Audit actions.
const (
	AuditSaleCreated          = "sale.created"
	AuditSaleWarmed           = "sale.warmed"
	AuditSaleStockAdded       = "sale.stock_added"
	AuditDeadLettersReplayed  = "dead_letters.replayed"
	AuditDeadLettersDiscarded = "dead_letters.discarded"
	AuditTokensMinted         = "tokens.minted"
)

// MaxAuditEntries bounds one listing of the audit trail.
const MaxAuditEntries = 1000
