package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/seckill/seckill/internal/order"
)

var _ order.AuditLog = (*Store)(nil)

// Widths of the audit_log columns (MySQL refuses longer values).
const (
	maxAuditActorLen  = 64
	maxAuditActionLen = 64
	maxAuditTargetLen = 200
	maxAuditDetailLen = 1000
	maxAuditAddrLen   = 64
)

// auditRow is a row of audit_log. Minute is set on aggregated entries
// only: the unique key (actor, action, minute) makes one row per actor,
// action and minute, and NULLs never collide.
type auditRow struct {
	ID         int64 `gorm:"primaryKey"`
	At         time.Time
	Actor      string
	Action     string
	Target     string
	Detail     string
	RemoteAddr string
	Minute     *time.Time
	Tally      int64
}

func (auditRow) TableName() string { return "audit_log" }

func newAuditRow(e order.AuditEntry) auditRow {
	at := e.At
	if at.IsZero() {
		at = now()
	}
	return auditRow{
		At:         utc(at),
		Actor:      truncate(e.Actor, maxAuditActorLen),
		Action:     truncate(e.Action, maxAuditActionLen),
		Target:     truncate(e.Target, maxAuditTargetLen),
		Detail:     truncate(e.Detail, maxAuditDetailLen),
		RemoteAddr: truncate(e.RemoteAddr, maxAuditAddrLen),
		Tally:      max(e.Count, 1),
	}
}

// RecordAudit stores e as an entry of its own. At defaults to now; the
// strings are cut to the widths of their columns.
func (s *Store) RecordAudit(ctx context.Context, e order.AuditEntry) error {
	row := newAuditRow(e)
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("record audit entry: %w", err)
	}
	return nil
}

// auditInTx writes, inside tx, the entry of the audit note ctx carries,
// completed from the sale as tx leaves it; the caller marks the note
// written once tx has committed. It returns the note (nil when ctx carries
// none).
func auditInTx(ctx context.Context, tx *gorm.DB, after order.Sale) (*order.AuditNote, error) {
	note := order.AuditNoteFrom(ctx)
	if note == nil {
		return nil, nil
	}
	row := newAuditRow(note.Complete(after))
	if err := tx.Create(&row).Error; err != nil {
		return nil, fmt.Errorf("record audit entry: %w", err)
	}
	return note, nil
}

// CountAudit adds e.Count changes (at least 1) to the entry of e's actor
// and action for the minute of e.At in one upsert (INSERT … ON DUPLICATE
// KEY UPDATE on MySQL, ON CONFLICT on SQLite): the first write of the
// minute creates the entry with its target, detail and address, each
// later one raises its count and moves its time to the latest change.
func (s *Store) CountAudit(ctx context.Context, e order.AuditEntry) error {
	row := newAuditRow(e)
	minute := row.At.Truncate(time.Minute)
	row.Minute = &minute
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "actor"}, {Name: "action"}, {Name: "minute"}},
		DoUpdates: clause.Assignments(map[string]any{
			"tally": gorm.Expr("audit_log.tally + ?", row.Tally),
			"at":    row.At,
		}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("count audit entry: %w", err)
	}
	return nil
}

// AuditEntries lists up to limit entries, newest first (by time, then by
// the order they were written).
func (s *Store) AuditEntries(ctx context.Context, limit int) ([]order.AuditEntry, error) {
	if limit <= 0 {
		return nil, nil
	}
	var rows []auditRow
	if err := s.db.WithContext(ctx).Order("at DESC, id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	out := make([]order.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = order.AuditEntry{
			At: r.At.UTC(), Actor: r.Actor, Action: r.Action, Target: r.Target,
			Detail: r.Detail, RemoteAddr: r.RemoteAddr, Count: r.Tally,
		}
	}
	return out, nil
}
